//! A journey in a real browser through the authorization pages: writing a
//! policy whose mistake is shown under the text area, fixing it, then
//! making a group, adding a member and attaching the policy to it.

use serde_json::{Value, json};

use crate::browser::{Browser, LAPTOP};
use crate::helpers::spawn_app;

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
