//! Journeys in a real browser through authorization: writing a policy whose
//! mistake is shown under the text area, fixing it and attaching it to a
//! group; and, behind a real nginx, an app a policy denies ("You don't have
//! access") and an app path that needs a security key given just now.

use serde_json::{Value, json};

use crate::access_decisions::Admin;
use crate::browser::{Browser, LAPTOP};
use crate::helpers::spawn_app;
use crate::nginx::{proxied_app, start_nginx};

/// Denies `/secret/…` of the app behind nginx outright, and `/admin/…` unless
/// the session was proved with a phishing-resistant factor (a security key).
fn app_rules() -> Value {
    json!({"Version": "2026-12-01", "Statement": [
        {"Sid": "NeverSecret", "Effect": "Deny", "Action": "http:*",
         "Resource": "http://localhost:*/secret/*"},
        {"Sid": "AdminNeedsKey", "Effect": "Deny", "Action": "http:*",
         "Resource": "http://localhost:*/admin/*",
         "Condition": {"Bool": {"twofold:PhishingResistant": "false"}}}]})
}

#[tokio::test]
async fn an_administrator_writes_a_policy_fixes_its_error_and_attaches_it_to_a_group() {
    let app = spawn_app().await;
    let (root, secret, _) = app.signed_in_admin_with_totp("root").await;
    app.create_user("alice", false).await;
    let browser = Browser::launch(&app, "access", LAPTOP).await;
    browser.sign_in_with_app(&app, "root", &secret).await;

    browser.open("/admin").await;
    browser.click("Policies").await;
    browser.sees("No policies yet").await;
    browser.click("Write a new policy").await;
    browser.fill("Name", "grafana").await;
    browser
        .fill(
            "Document",
            r#"{"Statement": [{"Effect": "Allow", "Action": "http:GET", "Resource": "*"},
 {"Effect": "Permit", "Action": "http:GET", "Resource": "*"}]}"#,
        )
        .await;
    browser.click("Save policy").await;
    let error = browser.error_beside("Document").await;
    assert!(
        error.starts_with("Statement[1].Effect:"),
        "the error names where: {error}"
    );
    // What was typed is still there to fix.
    let kept = browser
        .eval("document.getElementById('policy-document').value")
        .await
        .unwrap();
    assert!(kept.as_str().unwrap().contains("Permit"), "{kept}");

    let fixed = r#"{"Statement": [{"Effect": "Allow", "Action": "http:GET", "Resource": "*"},
 {"Effect": "Deny", "Action": "http:*", "Resource": "https://grafana.example.com/admin/*"}]}"#;
    browser.fill("Document", fixed).await;
    browser.click("Save policy").await;
    browser.sees("The policy was saved.").await;

    // Editing it again shows the stored document.
    browser.click("Edit grafana").await;
    let shown = browser
        .eval("document.getElementById('policy-document').value")
        .await
        .unwrap();
    assert_eq!(shown.as_str().unwrap(), fixed);

    browser.click("Groups").await;
    browser.fill("Name", "ops").await;
    browser.click("Create group").await;
    browser.sees("The group was created.").await;
    browser.fill("Add a member", "alice").await;
    browser.click("Add to ops").await;
    browser.sees("The member was added.").await;
    browser.click("Attach to ops").await;
    browser.sees("The policy was attached.").await;

    let groups: Value = app
        .get(&root, "/api/v1/admin/groups")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        groups["groups"],
        json!([{"name": "ops", "members": ["alice"], "policies": ["grafana"]}])
    );
    let policies: Value = app
        .get(&root, "/api/v1/admin/policies")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        policies["policies"][0]["document"]["Statement"][1]["Effect"],
        "Deny"
    );

    browser.click("Detach grafana from ops").await;
    browser.sees("The policy was detached.").await;
    browser.click("Policies").await;
    browser.sees("Nobody.").await;
}

#[tokio::test]
async fn a_signed_in_user_denied_by_a_policy_sees_that_they_have_no_access() {
    let app = proxied_app().await;
    let admin = Admin::new(&app).await;
    let (_, secret, _) = app.signed_in_user_with_totp("alice").await;
    admin
        .grant(&app, "app-rules", &app_rules(), "staff", &["alice"])
        .await;
    let nginx = start_nginx(&app).await;
    let base = format!("http://localhost:{}", nginx.port);
    let browser = Browser::launch(&app, "access-denied", LAPTOP).await;
    browser.sign_in_with_app(&app, "alice", &secret).await;
    browser.arrives_at("/account").await;

    // What the policy allows opens as usual…
    browser.open_address(&format!("{base}/reports/2026")).await;
    let allowed = browser
        .reaches_address(&format!("{base}/reports/2026"))
        .await;
    assert_eq!(allowed.trim(), "hello alice");

    // …what it denies shows our page, in words, naming the address.
    let secret_page = format!("{base}/secret/plans");
    browser.open_address(&secret_page).await;
    browser.arrives_at("/no-access").await;
    browser.sees("You don't have access").await;
    let says = browser.text().await;
    assert!(
        says.contains(&format!(
            "You are signed in, but your account may not open {secret_page}"
        )),
        "{says}"
    );
    assert!(says.contains("ask an administrator"), "{says}");
    assert!(
        !says.contains("hello alice"),
        "the app was not reached: {says}"
    );
    browser.click("Go to your account").await;
    browser.arrives_at("/account").await;
    browser.sees("Signed in as alice").await;
}

#[tokio::test]
async fn an_app_path_needing_a_key_asks_for_the_key_only_and_returns_to_the_app() {
    let app = proxied_app().await;
    let admin = Admin::new(&app).await;
    let (_, secret, _) = app.signed_in_user_with_totp("alice").await;
    admin
        .grant(&app, "app-rules", &app_rules(), "staff", &["alice"])
        .await;
    let nginx = start_nginx(&app).await;
    let base = format!("http://localhost:{}", nginx.port);
    let browser = Browser::launch(&app, "access-step-up-key", LAPTOP).await;
    browser.plug_in_security_key().await;

    // Alice has a key enrolled, but signs in today with her app's code.
    browser.sign_in_with_app(&app, "alice", &secret).await;
    browser.arrives_at("/account").await;
    browser.click("Add a security key").await;
    browser.fill("Name for this key", "Blue key").await;
    browser.press("Add the key").await;
    browser.arrives_at("/account").await;
    browser.sees("Blue key").await;
    browser.sign_out().await;
    browser.sign_in_with_app(&app, "alice", &secret).await;
    browser.arrives_at("/account").await;

    let admin_page = format!("{base}/admin/users");
    browser.open_address(&admin_page).await;
    browser.arrives_at("/reauthenticate").await;
    let query = browser.eval("location.search").await.unwrap();
    let rd = url::form_urlencoded::byte_serialize(admin_page.as_bytes()).collect::<String>();
    assert_eq!(
        query.as_str().unwrap(),
        format!("?rd={rd}&require=security_key")
    );
    browser.sees("Confirm it's you").await;
    browser
        .sees("The address you are opening needs your security key")
        .await;
    // The key only: no field for a code (from the app or a recovery code).
    let code_fields = browser
        .eval("document.querySelectorAll('input[name=code], input[name=recovery_code]').length")
        .await
        .unwrap();
    assert_eq!(code_fields, json!(0));
    let says = browser.text().await;
    assert!(!says.contains("authenticator app"), "{says}");
    assert!(!says.contains("recovery code"), "{says}");

    browser.press("Use your security key").await;
    let shown = browser.reaches_address(&admin_page).await;
    assert_eq!(shown.trim(), "hello alice");
}
