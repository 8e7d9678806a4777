//! The administration pages over plain HTTP: forms that post and redirect.

use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE, LOCATION};

use crate::helpers::{PASSWORD, TestApp, client, spawn_app};

async fn page(app: &TestApp, c: &reqwest::Client, path: &str) -> String {
    let answer = app.get(c, path).await;
    assert_eq!(answer.status(), 200, "{path}");
    answer.text().await.unwrap()
}

async fn submit(
    app: &TestApp,
    c: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    c.post(app.url(path)).form(form).send().await.unwrap()
}

fn assert_redirect(answer: &reqwest::Response, to: &str) {
    assert_eq!(answer.status(), 303, "{}", answer.url());
    assert_eq!(answer.headers()[LOCATION], to);
}

#[tokio::test]
async fn the_admin_pages_are_for_signed_in_admins_only() {
    let app = spawn_app().await;
    app.signed_in_admin_with_totp("root").await;
    let (alice, _, _) = app.signed_in_user_with_totp("alice").await;
    for path in ["/admin", "/admin/audit", "/admin/credential-report.csv"] {
        let anonymous = app.get(&client(), path).await;
        assert_redirect(&anonymous, "/login");
        let refused = app.get(&alice, path).await;
        assert_eq!(refused.status(), 403, "{path}");
        assert!(
            refused
                .text()
                .await
                .unwrap()
                .contains("Administrators only")
        );
    }
    let refused = submit(&app, &alice, "/admin/users/root/reset", &[]).await;
    assert_eq!(refused.status(), 403);
    let account = page(&app, &alice, "/account").await;
    assert!(!account.contains(r#"href="/admin""#));
}

#[tokio::test]
async fn an_admin_manages_users_through_the_pages() {
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    let account = page(&app, &root, "/account").await;
    assert!(account.contains(r#"href="/admin""#), "a link for admins");

    // Create: a weak password is shown again with the reason; then it works.
    let weak = submit(
        &app,
        &root,
        "/admin/users",
        &[("username", "alice"), ("password", "")],
    )
    .await;
    assert_eq!(weak.status(), 400);
    let html = weak.text().await.unwrap();
    assert!(html.contains(r#"role="alert""#), "{html}");
    assert!(html.contains(r#"value="alice""#), "the name is kept");
    let created = submit(
        &app,
        &root,
        "/admin/users",
        &[("username", "alice"), ("password", PASSWORD)],
    )
    .await;
    assert_redirect(&created, "/admin?notice=created");
    let users = page(&app, &root, "/admin?notice=created").await;
    assert!(users.contains("The user was created"));
    assert!(users.contains("alice"));
    assert!(users.contains("must enrol at next sign-in"));

    // Alice enrols; the table shows her factor and her sign-in.
    let (alice, _, _) = app.first_sign_in_enrolling_totp("alice").await;
    let users = page(&app, &root, "/admin").await;
    assert!(users.contains("1 authenticator"), "{users}");

    // Disable, then enable.
    let disabled = submit(&app, &root, "/admin/users/alice/disable", &[]).await;
    assert_redirect(&disabled, "/admin?notice=disabled");
    assert_eq!(app.get(&alice, "/api/v1/me").await.status(), 401);
    assert!(page(&app, &root, "/admin").await.contains("Disabled"));
    let enabled = submit(&app, &root, "/admin/users/alice/enable", &[]).await;
    assert_redirect(&enabled, "/admin?notice=enabled");

    // Reset asks first, then removes her factors.
    let confirm = page(&app, &root, "/admin/users/alice/reset").await;
    assert!(confirm.contains("Remove every second factor"));
    let reset = submit(&app, &root, "/admin/users/alice/reset", &[]).await;
    assert_redirect(&reset, "/admin?notice=reset");
    let answer: serde_json::Value = app
        .login(&client(), "alice", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"], "enrolment_required");

    // The report downloads as a CSV file.
    let report = app.get(&root, "/admin/credential-report.csv").await;
    assert_eq!(report.status(), 200);
    assert!(
        report.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        report.headers()[CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert!(report.text().await.unwrap().starts_with("user,user_id,"));

    // The audit trail, filtered to alice.
    let trail = page(&app, &root, "/admin/audit?username=alice").await;
    for event in ["user_created", "user_disabled", "user_enabled", "mfa_reset"] {
        assert!(trail.contains(event), "{event} in {trail}");
    }
    assert!(trail.contains("by=root"));
    assert!(!trail.contains("<td>root</td>"), "only events about alice");
}

#[tokio::test]
async fn the_audit_page_shows_everyone_without_a_filter() {
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    app.create_user("alice", false).await;
    let trail = page(&app, &root, "/admin/audit").await;
    assert!(trail.contains("<td>alice</td>"));
    assert!(trail.contains("<td>root</td>"));
    let filtered = page(&app, &root, "/admin/audit?username=alice").await;
    assert!(filtered.contains("<td>alice</td>"));
    assert!(!filtered.contains("<td>root</td>"));
}

#[tokio::test]
async fn an_admin_cannot_disable_themselves_from_the_page() {
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    let users = page(&app, &root, "/admin").await;
    assert!(!users.contains(r#"action="/admin/users/root/disable""#));
    let refused = submit(&app, &root, "/admin/users/root/disable", &[]).await;
    assert_eq!(refused.status(), 400);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("disable their own account")
    );
    assert_eq!(app.get(&root, "/api/v1/me").await.status(), 200);
}
