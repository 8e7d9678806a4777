//! A journey in a real browser through the administration pages: creating a
//! user (a weak password refused beside its field), disabling them, and
//! reading the audit trail.

use crate::browser::{Browser, LAPTOP, PHONE};
use crate::helpers::spawn_app;

#[tokio::test]
async fn an_administrator_creates_and_disables_a_user_from_the_admin_pages() {
    let app = spawn_app().await;
    let (_, secret, _) = app.signed_in_admin_with_totp("root").await;
    let mut browser = Browser::launch(&app, "admin", LAPTOP).await;
    browser.sign_in_with_app(&app, "root", &secret).await;

    browser
        .click("Users, credential report and audit trail")
        .await;
    assert_eq!(browser.path().await, "/admin");
    browser.fill("Username", "hank").await;
    browser.fill("Initial password", "hank").await;
    browser.click("Create user").await;
    assert!(!browser.error_beside("Initial password").await.is_empty());
    browser
        .fill("Initial password", "a long walk on a cold beach")
        .await;
    browser.click("Create user").await;
    browser.sees("The user was created").await;
    browser.sees("must enrol at next sign-in").await;

    browser.click("Disable hank").await;
    browser.sees("The user was disabled").await;
    browser.click("Audit trail").await;
    browser.sees("user_disabled").await;
    browser.sees("user_created").await;

    // The same pages on a phone: the tables scroll inside the page.
    browser.resize(PHONE).await;
    browser.open("/admin/audit").await;
    browser.click("Users").await;
    browser.sees("hank").await;
}
