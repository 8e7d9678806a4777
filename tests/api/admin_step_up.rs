//! Administrators' changes need a second factor passed within
//! `session.reauth_window_secs` (403 `reauthentication_required` after it),
//! as a user's own sensitive changes do; reading stays open to the session.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, assert_error, spawn_app};

/// Past the step-up window (10 minutes by default).
fn let_the_second_factor_go_stale(app: &TestApp) {
    app.clock
        .advance(app.settings.session.reauth_window_secs + 60);
}

async fn user(app: &TestApp, admin: &reqwest::Client, name: &str) -> Value {
    let users: Value = app
        .get(admin, "/api/v1/admin/users")
        .await
        .json()
        .await
        .unwrap();
    users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == name)
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn admin_api_writes_need_a_recent_second_factor_and_reads_do_not() {
    let app = spawn_app().await;
    let (admin, secret, _) = app.signed_in_admin_with_totp("root").await;
    let (bob_session, _, _) = app.signed_in_user_with_totp("bob").await;
    let_the_second_factor_go_stale(&app);

    let writes: [(&str, &str, Option<Value>); 5] = [
        (
            "POST",
            "/api/v1/admin/users",
            Some(json!({"username": "carol", "password": PASSWORD})),
        ),
        ("POST", "/api/v1/admin/users/bob/disable", None),
        ("POST", "/api/v1/admin/users/bob/enable", None),
        ("DELETE", "/api/v1/admin/users/bob/sessions", None),
        ("DELETE", "/api/v1/admin/users/bob/devices", None),
    ];
    for (method, path, body) in &writes {
        assert_error(
            app.call(&admin, method, path, body.as_ref()).await,
            403,
            "reauthentication_required",
        )
        .await;
    }
    // Nothing changed; reading still works.
    assert_eq!(user(&app, &admin, "carol").await, Value::Null);
    assert_eq!(app.get(&bob_session, "/api/v1/me").await.status(), 200);
    let bob = user(&app, &admin, "bob").await;
    assert_eq!(
        (bob["disabled"].as_bool(), bob["mfa_active"].as_bool()),
        (Some(false), Some(true))
    );
    for read in ["/api/v1/admin/audit", "/api/v1/admin/credential-report"] {
        assert_eq!(app.get(&admin, read).await.status(), 200, "{read}");
    }

    // A step-up brings the writes back.
    app.next_time_step();
    let passed = app
        .post(
            &admin,
            "/api/v1/me/reauthenticate",
            json!({"code": app.totp_code(&secret)}),
        )
        .await;
    assert_eq!(passed.status(), 200);
    let statuses = [201, 204, 204, 204, 204];
    for ((method, path, body), status) in writes.iter().zip(statuses) {
        let answer = app.call(&admin, method, path, body.as_ref()).await;
        assert_eq!(answer.status(), status, "{method} {path}");
    }
    assert_eq!(user(&app, &admin, "carol").await["username"], "carol");
    assert_eq!(user(&app, &admin, "bob").await["mfa_active"], false);
    assert_eq!(app.get(&bob_session, "/api/v1/me").await.status(), 401);
}

#[tokio::test]
async fn the_admin_page_sends_a_stale_admin_through_step_up_and_back() {
    let app = spawn_app().await;
    let (admin, secret, _) = app.signed_in_admin_with_totp("root").await;
    app.signed_in_user_with_totp("bob").await;
    let_the_second_factor_go_stale(&app);

    let disable = admin
        .post(app.url("/admin/users/bob/disable"))
        .send()
        .await
        .unwrap();
    assert_eq!(disable.status(), 303);
    // `next` is sent form-encoded (a return address may hold `?` and `&`).
    assert_eq!(
        disable.headers()["location"],
        "/reauthenticate?next=%2Fadmin"
    );
    assert_eq!(user(&app, &admin, "bob").await["disabled"], false);

    let form = app.get(&admin, "/reauthenticate?next=/admin").await;
    assert_eq!(form.status(), 200);
    app.next_time_step();
    let code = app.totp_code(&secret);
    let passed = admin
        .post(app.url("/reauthenticate"))
        .form(&[("code", code.as_str()), ("next", "/admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(passed.status(), 303);
    assert_eq!(passed.headers()["location"], "/admin?stepped_up=1");
    let table = app
        .get(&admin, "/admin?stepped_up=1")
        .await
        .text()
        .await
        .unwrap();
    assert!(table.contains("You confirmed it"), "{table}");

    let disable = admin
        .post(app.url("/admin/users/bob/disable"))
        .send()
        .await
        .unwrap();
    assert_eq!(disable.headers()["location"], "/admin?notice=disabled");
    assert_eq!(user(&app, &admin, "bob").await["disabled"], true);
}

#[tokio::test]
async fn the_sessions_page_sends_a_stale_admin_through_step_up_and_back_to_press_again() {
    let app = spawn_app().await;
    let (admin, secret, _) = app.signed_in_admin_with_totp("root").await;
    let (bob, _, _) = app.signed_in_user_with_totp("bob").await;
    let_the_second_factor_go_stale(&app);

    let end_all = admin
        .post(app.url("/admin/users/bob/sessions/end-all"))
        .send()
        .await
        .unwrap();
    assert_eq!(end_all.status(), 303);
    assert_eq!(
        end_all.headers()["location"],
        "/reauthenticate?next=%2Fadmin%2Fusers%2Fbob%2Fsessions"
    );
    assert_eq!(app.get(&bob, "/api/v1/me").await.status(), 200);

    app.next_time_step();
    let code = app.totp_code(&secret);
    let passed = admin
        .post(app.url("/reauthenticate"))
        .form(&[
            ("code", code.as_str()),
            ("next", "/admin/users/bob/sessions"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(passed.status(), 303);
    let back = passed.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(back, "/admin/users/bob/sessions?stepped_up=1");
    let page = app.get(&admin, &back).await.text().await.unwrap();
    // (The apostrophe in "it's" is HTML-escaped.)
    assert!(page.contains("You confirmed it"), "{page}");
    assert!(
        page.contains("Press “Sign out” once more to end the session."),
        "{page}"
    );

    let end_all = admin
        .post(app.url("/admin/users/bob/sessions/end-all"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        end_all.headers()["location"],
        "/admin/users/bob/sessions?notice=all_ended"
    );
    assert_eq!(app.get(&bob, "/api/v1/me").await.status(), 401);
}
