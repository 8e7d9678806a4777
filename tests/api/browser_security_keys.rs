//! Journeys in a real browser with Chromium's virtual security key (the
//! DevTools WebAuthn domain, a CTAP2 key on USB): enrolling a key at the first
//! sign-in, the same key refused twice, signing in with it, and a key that is
//! not registered, each explained in words.

use crate::browser::{Browser, LAPTOP, PHONE};
use crate::helpers::{PASSWORD, spawn_app};

#[tokio::test]
async fn a_security_key_enrolled_at_the_first_sign_in_then_signs_in() {
    let app = spawn_app().await;
    app.create_user("dana", false).await;
    let browser = Browser::launch(&app, "security-key", LAPTOP).await;
    let key = browser.plug_in_security_key().await;

    browser.sign_in_at("/login", "dana", PASSWORD).await;
    browser.sees("Protect your account").await;
    browser.click("Add a security key").await;
    browser.fill("Name for this key", "Blue key").await;
    browser.press("Add the key").await;
    browser.arrives_at("/account").await;
    browser.sees("Blue key").await;
    browser.sees("Security key").await;

    // The same key again: the browser refuses, the page says why.
    browser.click("Add a security key").await;
    browser.press("Add the key").await;
    browser
        .sees("This key is already registered to your account")
        .await;
    browser.screenshot("same-key-refused").await;

    browser.sign_out().await;
    browser.sign_in_at("/login", "dana", PASSWORD).await;
    assert_eq!(browser.path().await, "/login/second-factor");
    browser.sees("Security key").await;
    let offered = browser.text().await;
    assert!(
        !offered.contains("authenticator app") && !offered.contains("recovery code"),
        "only the key is offered to a user who has only a key: {offered}"
    );
    browser.press("Use your security key").await;
    browser.arrives_at("/account").await;
    browser.sees("Signed in as dana").await;
    assert!(
        browser.security_key_sign_count(&key).await >= 1,
        "the key signed the sign-in"
    );

    // With an app as well, the second-factor page offers both.
    browser.click("Add an authenticator app").await;
    browser.click("Set up an app").await;
    let secret = browser.text_of("#secret").await.replace(' ', "");
    browser
        .fill("Type the 6-digit code", &app.totp_code(&secret))
        .await;
    browser.click("Confirm").await;
    browser.sees("Your new second factor is ready").await;
    browser.sign_out().await;
    browser.sign_in_at("/login", "dana", PASSWORD).await;
    browser.sees("Use your security key").await;
    browser.sees("Code from your authenticator app").await;
    browser.screenshot("key-or-app").await;

    // Another key, never registered: refused, and the page says so.
    browser.unplug_security_key(&key).await;
    browser.plug_in_security_key().await;
    browser.press("Use your security key").await;
    browser
        .sees("this key is not registered to your account")
        .await;
    browser.screenshot("unknown-key-refused").await;
    assert_eq!(browser.path().await, "/login/second-factor");
}

#[tokio::test]
async fn a_key_that_checks_a_pin_is_enrolled_and_signs_in_on_a_phone() {
    let app = spawn_app().await;
    app.create_user("erin", false).await;
    let browser = Browser::launch(&app, "security-key-with-pin", PHONE).await;
    browser.plug_in_security_key_with_pin().await;

    browser.sign_in_at("/login", "erin", PASSWORD).await;
    browser.click("Add a security key").await;
    browser.press("Add the key").await;
    browser.arrives_at("/account").await;
    browser.sees("Security key").await;

    browser.sign_out().await;
    browser.sign_in_at("/login", "erin", PASSWORD).await;
    browser.press("Use your security key").await;
    browser.arrives_at("/account").await;
    browser.sees("Signed in as erin").await;

    // Eleven minutes later, a sensitive change asks for the key again: one
    // touch on the confirmation page and the person comes straight back.
    app.clock.advance(11 * 60);
    browser.click("Change your password").await;
    assert_eq!(browser.path().await, "/reauthenticate");
    browser.press("Use your security key").await;
    browser.arrives_at("/account/password").await;
    browser.sees("Change your password").await;
}
