//! Sessions in real browsers: two browsers of one person, one signs the other
//! out from the account page; "Sign out everywhere else"; an admin signs a
//! user out; a remembered browser skips the code, another does not.

use crate::browser::{Browser, LAPTOP, PHONE};
use crate::helpers::{PASSWORD, spawn_app, spawn_app_with};

#[tokio::test]
async fn one_browser_signs_the_other_out_and_its_next_page_is_the_sign_in_page() {
    let app = spawn_app().await;
    let (_, secret, _) = app.signed_in_user_with_totp("hana").await;
    let laptop = Browser::launch(&app, "sessions-laptop", LAPTOP).await;
    let phone = Browser::launch(&app, "sessions-phone", PHONE).await;
    phone.without_javascript().await;
    laptop.sign_in_with_app(&app, "hana", &secret).await;
    phone.sign_in_with_app(&app, "hana", &secret).await;
    assert_eq!(phone.path().await, "/account");

    app.clock.advance(3 * 60);
    laptop.open("/account").await;
    laptop.sees("Where you're signed in").await;
    laptop.sees("This browser").await;
    // Three sessions: this browser, the phone, and the fixture's API client
    // (which sends no user agent).
    let other = "Chrome on Linux · 127.0.0.1 · last seen 3 minutes ago";
    laptop.sees(other).await;
    laptop.sees("Unknown browser · 127.0.0.1 · last seen").await;
    laptop.sees("with an authenticator code").await;
    laptop.click(&format!("Sign out {other}")).await;
    laptop.sees("That session has ended.").await;
    assert!(!laptop.text().await.contains(other));

    phone.open("/account").await;
    assert_eq!(phone.path().await, "/login", "the phone is signed out");
    phone.sees("Sign in").await;
    laptop.open("/account").await;
    assert_eq!(laptop.path().await, "/account", "the laptop stays in");
}

#[tokio::test]
async fn sign_out_everywhere_else_leaves_only_this_browser() {
    let app = spawn_app().await;
    let (api_client, secret, _) = app.signed_in_user_with_totp("ivan").await;
    let laptop = Browser::launch(&app, "sessions-everywhere-laptop", PHONE).await;
    let phone = Browser::launch(&app, "sessions-everywhere-phone", PHONE).await;
    laptop.sign_in_with_app(&app, "ivan", &secret).await;
    phone.sign_in_with_app(&app, "ivan", &secret).await;
    laptop.open("/account").await;
    laptop.click("Sign out everywhere else").await;
    laptop.sees("Every other session has ended").await;
    assert!(!laptop.text().await.contains("Sign out everywhere else"));
    phone.open("/account").await;
    assert_eq!(phone.path().await, "/login");
    assert_eq!(app.get(&api_client, "/api/v1/me").await.status(), 401);
    laptop.open("/account").await;
    assert_eq!(laptop.path().await, "/account");
}

#[tokio::test]
async fn an_admin_signs_a_user_out_everywhere_from_the_users_page() {
    let app = spawn_app().await;
    let (_, root_secret, _) = app.signed_in_admin_with_totp("root").await;
    let (_, secret, _) = app.signed_in_user_with_totp("jade").await;
    let user = Browser::launch(&app, "sessions-admin-user", PHONE).await;
    user.sign_in_with_app(&app, "jade", &secret).await;
    let admin = Browser::launch(&app, "sessions-admin", LAPTOP).await;
    admin.sign_in_with_app(&app, "root", &root_secret).await;
    admin.open("/admin").await;
    admin.click("Sessions of jade").await;
    admin.sees("Sessions of jade").await;
    admin.sees("Chrome on Linux · 127.0.0.1").await;
    admin.click("Sign jade out everywhere").await;
    admin.sees("Every session has ended").await;
    admin.sees("jade is signed in nowhere").await;
    user.open("/account").await;
    assert_eq!(user.path().await, "/login");
}

#[tokio::test]
async fn a_remembered_browser_skips_the_code_until_the_password_changes() {
    let app = spawn_app_with(|s| s.session.remember_browser_days = 30).await;
    let (_, secret, _) = app.signed_in_user_with_totp("kira").await;
    let laptop = Browser::launch(&app, "remembered-laptop", LAPTOP).await;
    laptop.without_javascript().await;
    laptop.sign_in_at("/login", "kira", PASSWORD).await;
    app.next_time_step();
    laptop
        .fill("Code from your authenticator app", &app.totp_code(&secret))
        .await;
    laptop
        .tick("Don't ask for a second factor on this browser for 30 days")
        .await;
    laptop.click("Sign in").await;
    assert_eq!(laptop.path().await, "/account");
    laptop.sees("Browsers that skip the second factor").await;
    laptop.sign_out().await;

    // The same browser: the password alone.
    laptop.sign_in_at("/login", "kira", PASSWORD).await;
    assert_eq!(laptop.path().await, "/account", "no code asked");

    // Another browser still gives a code.
    let phone = Browser::launch(&app, "remembered-phone", PHONE).await;
    phone.sign_in_at("/login", "kira", PASSWORD).await;
    assert_eq!(phone.path().await, "/login/second-factor");
    phone.enters_app_code(&app, &secret).await;

    // A password change (with the step-up it asks for) ends the remembering.
    // (The remembered factor is a minute old: no step-up asked yet.)
    laptop.open("/account/password").await;
    laptop.fill("Current password", PASSWORD).await;
    laptop
        .fill("New password", "another long passphrase of mine")
        .await;
    laptop
        .fill("New password again", "another long passphrase of mine")
        .await;
    laptop.click("Change password").await;
    laptop.sees("Your password is changed").await;
    laptop.sign_out().await;
    laptop
        .sign_in_at("/login", "kira", "another long passphrase of mine")
        .await;
    assert_eq!(laptop.path().await, "/login/second-factor");
}

#[tokio::test]
async fn a_security_key_sign_in_remembers_the_browser_when_asked() {
    let app = spawn_app_with(|s| s.session.remember_browser_days = 7).await;
    app.create_user("lars", false).await;
    let browser = Browser::launch(&app, "remembered-key", PHONE).await;
    browser.plug_in_security_key().await;
    browser.sign_in_at("/login", "lars", PASSWORD).await;
    browser.click("Add a security key").await;
    browser.press("Add the key").await;
    browser.arrives_at("/account").await;
    browser.sign_out().await;

    browser.sign_in_at("/login", "lars", PASSWORD).await;
    browser
        .tick("Don't ask for a second factor on this browser for 7 days")
        .await;
    browser.press("Use your security key").await;
    browser.arrives_at("/account").await;
    browser.sees("Browsers that skip the second factor").await;
    browser.sign_out().await;

    browser.sign_in_at("/login", "lars", PASSWORD).await;
    assert_eq!(browser.path().await, "/account", "no key asked");
}
