//! Journeys in a real browser with Chromium's virtual authenticator holding
//! resident keys and verifying its user: a passkey enrolled at the first
//! sign-in signs in with no username or password; an authenticator that does
//! not verify its user is refused; a model the operator did not allow is
//! refused at enrolment; the sign-in page offers passkeys in autofill.

use serde_json::json;

use crate::browser::{Browser, LAPTOP};
use crate::helpers::{PASSWORD, spawn_app, spawn_app_with};

/// Enrols a passkey named "Laptop" at the first sign-in of `username`.
async fn enrol_at_first_sign_in(browser: &Browser, username: &str) {
    browser.sign_in_at("/login", username, PASSWORD).await;
    browser.sees("Protect your account").await;
    browser.click("Add a passkey").await;
    browser.fill("Name for this passkey", "Laptop").await;
    browser.press("Add the passkey").await;
}

#[tokio::test]
async fn a_passkey_enrolled_at_the_first_sign_in_signs_in_alone() {
    let app = spawn_app().await;
    app.create_user("dana", false).await;
    let browser = Browser::launch(&app, "passkey", LAPTOP).await;
    // hasResidentKey, hasUserVerification and isUserVerified all true.
    let authenticator = browser.plug_in_security_key_with_pin().await;

    enrol_at_first_sign_in(&browser, "dana").await;
    browser.arrives_at("/account").await;
    browser.sees("Laptop").await;
    browser.sees("Passkey").await;
    let stored = browser
        .cdp(
            "WebAuthn.getCredentials",
            json!({"authenticatorId": authenticator}),
        )
        .await;
    assert_eq!(
        stored["credentials"][0]["isResidentCredential"], true,
        "the passkey is discoverable: {stored}"
    );

    browser.sign_out().await;
    browser.sees("Sign in with a passkey").await;
    browser.screenshot("sign-in-with-a-passkey").await;
    browser.press("Sign in with a passkey").await;
    browser.arrives_at("/account").await;
    browser.sees("Signed in as dana").await;
}

#[tokio::test]
async fn an_authenticator_that_does_not_verify_its_user_is_refused() {
    let app = spawn_app().await;
    app.create_user("erin", false).await;
    let browser = Browser::launch(&app, "passkey-not-verified", LAPTOP).await;
    let authenticator = browser.plug_in_security_key_with_pin().await;
    enrol_at_first_sign_in(&browser, "erin").await;
    browser.arrives_at("/account").await;
    browser.sign_out().await;

    // The PIN or fingerprint now fails.
    browser
        .cdp(
            "WebAuthn.setUserVerified",
            json!({"authenticatorId": authenticator, "isUserVerified": false}),
        )
        .await;
    browser.press("Sign in with a passkey").await;
    browser.sees("Try again").await;
    browser.screenshot("not-verified-refused").await;
    assert_eq!(browser.path().await, "/login");
    let me = browser
        .eval("fetch('/api/v1/me').then(r => r.status)")
        .await
        .unwrap();
    assert_eq!(me, json!(401), "still signed out");
}

#[tokio::test]
async fn a_model_the_operator_did_not_allow_is_refused_at_enrolment() {
    let app = spawn_app_with(|s| {
        s.webauthn.allowed_aaguids = vec!["2fc0579f-8113-47ea-b116-bb5a8db9202a".into()]
    })
    .await;
    app.create_user("fay", false).await;
    let browser = Browser::launch(&app, "passkey-model-refused", LAPTOP).await;
    browser.plug_in_security_key_with_pin().await;
    enrol_at_first_sign_in(&browser, "fay").await;
    browser.sees("webauthn.allowed_aaguids").await;
    browser.screenshot("model-refused").await;
    assert_eq!(browser.path().await, "/enrol/passkey");
}

#[tokio::test]
async fn the_sign_in_page_offers_passkeys_in_the_username_autofill() {
    let app = spawn_app().await;
    let browser = Browser::launch(&app, "passkey-autofill", LAPTOP).await;
    browser.plug_in_security_key_with_pin().await;
    // Headless Chromium has no autofill UI, so it answers "no" when a page
    // asks whether conditional mediation is available. Here it says yes,
    // and the requests the page then makes are recorded on their way to
    // the real navigator.credentials.get.
    browser
        .cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": "
                PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(true);
                window.__requests = [];
                const get = navigator.credentials.get.bind(navigator.credentials);
                navigator.credentials.get = (options) => {
                    window.__requests.push({
                        mediation: options.mediation || 'modal',
                        allowed: (options.publicKey.allowCredentials || []).length,
                    });
                    return get(options);
                };"}),
        )
        .await;
    browser.open("/login").await;
    let autocomplete = browser
        .eval("document.getElementById('username').getAttribute('autocomplete')")
        .await
        .unwrap();
    assert_eq!(autocomplete, json!("username webauthn"));
    browser
        .wait_until(
            "window.__requests.some(r => r.mediation === 'conditional' && r.allowed === 0)",
            "the page to ask for a conditional (autofill) request naming no credential",
        )
        .await;
    // The button still works beside it, as a modal request.
    browser.sees("Sign in with a passkey").await;
}
