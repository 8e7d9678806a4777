//! Journeys in a real browser: the first sign-in with enrolment of an app,
//! signing in with its code, a wrong code, and coming back to the page the
//! person came from.

use crate::browser::{Browser, LAPTOP, PHONE};
use crate::helpers::{PASSWORD, spawn_app};

/// A code that is not the app's current one.
fn wrong_code(right: &str) -> &'static str {
    if right == "000000" {
        "111111"
    } else {
        "000000"
    }
}

#[tokio::test]
async fn a_new_user_enrols_an_app_and_signs_in_with_its_code_without_javascript() {
    let app = spawn_app().await;
    app.create_user("alice", false).await;
    let browser = Browser::launch(&app, "first-sign-in", PHONE).await;
    browser.without_javascript().await;

    browser.sign_in_at("/login", "alice", PASSWORD).await;
    browser.sees("Protect your account").await;
    browser.click("Set up an app").await;
    browser.sees("Scan this QR code").await;
    let secret = browser.text_of("#secret").await.replace(' ', "");
    browser
        .fill("Type the 6-digit code", &app.totp_code(&secret))
        .await;
    browser.click("Confirm").await;
    assert_eq!(browser.path().await, "/account");
    browser.sees("Signed in as alice").await;
    browser.sees("Authenticator app").await;

    browser.sign_out().await;
    browser.sign_in_at("/login", "alice", PASSWORD).await;
    browser.sees("Confirm it's you").await;
    let offered = browser.text().await;
    assert!(
        !offered.contains("security key") && !offered.contains("recovery code"),
        "only the app is offered to a user who has only an app: {offered}"
    );
    browser.enters_app_code(&app, &secret).await;
    assert_eq!(browser.path().await, "/account");
    browser.sees("Signed in as alice").await;
}

#[tokio::test]
async fn a_wrong_code_is_explained_beside_the_field_and_the_right_one_then_works() {
    let app = spawn_app().await;
    let (_, secret, _) = app.signed_in_user_with_totp("bob").await;
    let browser = Browser::launch(&app, "wrong-code", LAPTOP).await;

    browser.sign_in_at("/login", "bob", "not my password").await;
    assert_eq!(
        browser.error_beside("Password").await,
        "The username or password is wrong."
    );
    browser.fill("Password", PASSWORD).await;
    browser.click("Continue").await;

    app.next_time_step();
    let right = app.totp_code(&secret);
    browser
        .fill("Code from your authenticator app", wrong_code(&right))
        .await;
    browser.click("Sign in").await;
    assert_eq!(browser.path().await, "/login/totp");
    assert_eq!(
        browser
            .error_beside("Code from your authenticator app")
            .await,
        "The code is wrong, expired or already used."
    );
    browser.screenshot("wrong-code").await;

    browser
        .fill("Code from your authenticator app", &right)
        .await;
    browser.click("Sign in").await;
    assert_eq!(browser.path().await, "/account");
}

#[tokio::test]
async fn sign_in_returns_to_the_page_the_person_came_from_and_nowhere_else() {
    let app = spawn_app().await;
    let (_, secret, _) = app.signed_in_user_with_totp("carol").await;
    let browser = Browser::launch(&app, "return-and-password", PHONE).await;
    browser.without_javascript().await;

    browser
        .sign_in_at("/login?next=/account/password", "carol", PASSWORD)
        .await;
    browser.enters_app_code(&app, &secret).await;
    assert_eq!(browser.path().await, "/account/password");

    let new_password = "a quiet harbour at dawn";
    browser.fill("Current password", PASSWORD).await;
    browser.fill("New password", new_password).await;
    browser
        .fill("New password again", "a quiet harbour at dusk")
        .await;
    browser.click("Change password").await;
    assert_eq!(
        browser.error_beside("New password again").await,
        "The two new passwords differ."
    );
    browser.fill("Current password", PASSWORD).await;
    browser.fill("New password", new_password).await;
    browser.fill("New password again", new_password).await;
    browser.click("Change password").await;
    assert_eq!(browser.path().await, "/account");
    browser.sees("Your password is changed").await;

    browser.sign_out().await;
    browser
        .sign_in_at(
            "/login?rd=https://evil.example/steal",
            "carol",
            new_password,
        )
        .await;
    browser.enters_app_code(&app, &secret).await;
    assert_eq!(
        browser.path().await,
        "/account",
        "an address on another site is not followed"
    );
    assert!(
        browser
            .eval("location.host")
            .await
            .unwrap()
            .as_str()
            .unwrap()
            .starts_with("localhost:")
    );
}
