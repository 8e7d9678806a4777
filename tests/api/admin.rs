//! Administration over the JSON API: creating, listing, disabling, enabling,
//! the lost-device reset and the credential report, for administrators only.

use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use twofold::auth::clock::iso8601;

use crate::helpers::{PASSWORD, TestApp, assert_error, client, spawn_app};
use crate::protection_helpers::make_recovery_codes;
use crate::soft_key::{Key, add_key, first_sign_in_enrolling_key};

async fn users(app: &TestApp, admin: &reqwest::Client) -> Vec<Value> {
    let answer = app.get(admin, "/api/v1/admin/users").await;
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    body["users"].as_array().unwrap().clone()
}

fn row<'a>(users: &'a [Value], name: &str) -> &'a Value {
    users
        .iter()
        .find(|u| u["username"] == name)
        .unwrap_or_else(|| panic!("{name} is listed in {users:?}"))
}

/// The credential report as the API serves it, as rows of cells by user.
async fn report(app: &TestApp, admin: &reqwest::Client) -> Vec<Vec<String>> {
    let answer = app.get(admin, "/api/v1/admin/credential-report").await;
    assert_eq!(answer.status(), 200);
    assert!(
        answer.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv"),
        "{:?}",
        answer.headers()
    );
    answer
        .text()
        .await
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| line.split(',').map(str::to_owned).collect())
        .collect()
}

fn report_row<'a>(report: &'a [Vec<String>], name: &str) -> &'a [String] {
    report
        .iter()
        .find(|r| r[0] == name)
        .unwrap_or_else(|| panic!("{name} is in the report"))
}

async fn audit_events(app: &TestApp, admin: &reqwest::Client, query: &str) -> Vec<Value> {
    let answer = app.get(admin, &format!("/api/v1/admin/audit{query}")).await;
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    body["events"].as_array().unwrap().clone()
}

/// The detail of the latest lost-device reset of `username`.
async fn reset_detail(app: &TestApp, admin: &reqwest::Client, username: &str) -> String {
    let events = audit_events(app, admin, &format!("?username={username}&limit=100")).await;
    let reset = events.iter().find(|e| e["event"] == "mfa_reset");
    reset.expect("the reset is audited")["detail"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn an_admin_creates_lists_reports_resets_disables_and_audits_users() {
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;

    // Create.
    let created = app
        .post(
            &root,
            "/api/v1/admin/users",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["username"], "alice");
    assert_eq!(created["admin"], false);
    assert_eq!(created["mfa_active"], false);

    // List.
    let listed = users(&app, &root).await;
    assert_eq!(listed.len(), 2);
    let alice = row(&listed, "alice");
    assert_eq!(alice["admin"], false);
    assert_eq!(alice["disabled"], false);
    assert_eq!(alice["mfa_active"], false);
    assert!(alice["created_at"].as_str().unwrap().ends_with('Z'));
    let me = row(&listed, "root");
    assert_eq!(me["admin"], true);
    assert_eq!(me["mfa_active"], true);

    // Alice signs in for the first time and enrols; the report shows it.
    let (alice_client, _, _) = app.first_sign_in_enrolling_totp("alice").await;
    let rows = report(&app, &root).await;
    let alice = report_row(&rows, "alice");
    assert_eq!(
        alice[6..],
        [
            "true", "1", "0", "0", "false", "false", "N/A", "N/A", "false", "N/A", "N/A", "0"
        ]
    );
    assert!(alice[4].ends_with('Z'), "password_last_used: {alice:?}");

    // Reset: her factors go, her session ends, her next login must enrol.
    let reset = app.delete(&root, "/api/v1/admin/users/alice/devices").await;
    assert_eq!(reset.status(), 204);
    assert_error(
        app.get(&alice_client, "/api/v1/me").await,
        401,
        "unauthenticated",
    )
    .await;
    let rows = report(&app, &root).await;
    assert_eq!(
        report_row(&rows, "alice")[6..],
        [
            "false", "0", "0", "0", "false", "false", "N/A", "N/A", "false", "N/A", "N/A", "0"
        ]
    );
    let (alice_client, _, _) = app.first_sign_in_enrolling_totp("alice").await;

    // Disable: her session dies, her password no longer opens anything.
    let disabled = app
        .post(&root, "/api/v1/admin/users/alice/disable", json!({}))
        .await;
    assert_eq!(disabled.status(), 204);
    assert_error(
        app.get(&alice_client, "/api/v1/me").await,
        401,
        "unauthenticated",
    )
    .await;
    assert_error(
        app.login(&client(), "alice", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(row(&users(&app, &root).await, "alice")["disabled"], true);
    assert_eq!(report_row(&report(&app, &root).await, "alice")[3], "false");

    // Enable: she signs in again with the factor she has.
    let enabled = app
        .post(&root, "/api/v1/admin/users/alice/enable", json!({}))
        .await;
    assert_eq!(enabled.status(), 204);
    let again: Value = app
        .login(&client(), "alice", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["status"], "second_factor_required");

    // Audit: every admin action, newest first, naming root.
    let events = audit_events(&app, &root, "?username=alice").await;
    let admin_actions: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| {
            ["user_created", "user_disabled", "user_enabled", "mfa_reset"]
                .contains(&e["event"].as_str().unwrap())
        })
        .map(|e| (e["event"].as_str().unwrap(), e["detail"].as_str().unwrap()))
        .collect();
    let names: Vec<&str> = admin_actions.iter().map(|(event, _)| *event).collect();
    assert_eq!(
        names,
        ["user_enabled", "user_disabled", "mfa_reset", "user_created"]
    );
    for (event, detail) in &admin_actions {
        assert!(detail.contains("by=root"), "{event}: {detail}");
    }
    for event in &events {
        assert_eq!(event["username"], "alice");
        assert!(event["at"].as_str().unwrap().ends_with('Z'), "{event}");
    }
    let reset = events.iter().find(|e| e["event"] == "mfa_reset").unwrap();
    assert_eq!(reset["ip"], "127.0.0.1");
    assert!(
        reset["detail"]
            .as_str()
            .unwrap()
            .contains("removed 1 second factors"),
        "{reset}"
    );
}

/// Every admin endpoint, with a body it would accept from an admin.
fn admin_endpoints() -> Vec<(&'static str, &'static str, Option<Value>)> {
    vec![
        ("GET", "/api/v1/admin/users", None),
        (
            "POST",
            "/api/v1/admin/users",
            Some(json!({"username": "mallory", "password": PASSWORD, "admin": true})),
        ),
        ("POST", "/api/v1/admin/users/alice/disable", None),
        ("POST", "/api/v1/admin/users/alice/enable", None),
        ("DELETE", "/api/v1/admin/users/alice/devices", None),
        ("GET", "/api/v1/admin/credential-report", None),
        ("GET", "/api/v1/admin/audit", None),
        ("GET", "/api/v1/admin/audit?username=alice&limit=5", None),
    ]
}

#[tokio::test]
async fn a_non_admin_is_refused_on_every_admin_endpoint() {
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    let (alice, _, _) = app.signed_in_user_with_totp("alice").await;
    let (bob, _, _) = app.signed_in_user_with_totp("bob").await;
    for (method, path, body) in admin_endpoints() {
        let path = path.replace("alice", "bob");
        assert_error(
            app.call(&alice, method, &path, body.as_ref()).await,
            403,
            "forbidden",
        )
        .await;
    }
    // Nothing happened: bob is still signed in and enabled, no one was created.
    assert_eq!(app.get(&bob, "/api/v1/me").await.status(), 200);
    let listed = users(&app, &root).await;
    assert_eq!(listed.len(), 3);
    assert_eq!(row(&listed, "bob")["disabled"], false);
    assert_eq!(row(&listed, "bob")["mfa_active"], true);
}

#[tokio::test]
async fn admin_endpoints_need_a_session_not_just_a_password() {
    let app = spawn_app().await;
    app.signed_in_admin_with_totp("root").await;
    let anonymous = client();
    let pending = client();
    let answer: Value = app
        .login(&pending, "root", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"], "second_factor_required");
    for (method, path, body) in admin_endpoints() {
        for c in [&anonymous, &pending] {
            assert_error(
                app.call(c, method, path, body.as_ref()).await,
                401,
                "unauthenticated",
            )
            .await;
        }
    }
}

#[tokio::test]
async fn a_new_admin_has_no_admin_powers_before_enrolling_a_second_factor() {
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    let created = app
        .post(
            &root,
            "/api/v1/admin/users",
            json!({"username": "second-admin", "password": PASSWORD, "admin": true}),
        )
        .await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.json::<Value>().await.unwrap()["admin"], true);

    let c = client();
    let answer: Value = app
        .login(&c, "second-admin", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"], "enrolment_required");
    assert_error(
        app.get(&c, "/api/v1/admin/users").await,
        401,
        "unauthenticated",
    )
    .await;
}

#[tokio::test]
async fn a_disabled_users_live_sessions_and_pending_login_end_at_once() {
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    let (laptop, secret, _) = app.signed_in_user_with_totp("alice").await;
    let phone = app.sign_in_with_totp("alice", &secret).await;
    let halfway = client();
    app.login(&halfway, "alice", PASSWORD).await;
    for c in [&laptop, &phone] {
        assert_eq!(app.get(c, "/api/v1/verify").await.status(), 200);
    }

    let disabled = app
        .post(&root, "/api/v1/admin/users/alice/disable", json!({}))
        .await;
    assert_eq!(disabled.status(), 204);

    for c in [&laptop, &phone] {
        assert_eq!(app.get(c, "/api/v1/verify").await.status(), 401);
        assert_error(app.get(c, "/api/v1/me").await, 401, "unauthenticated").await;
    }
    app.next_time_step();
    assert_error(
        app.post(
            &halfway,
            "/api/v1/login/totp",
            json!({"code": app.totp_code(&secret)}),
        )
        .await,
        401,
        "unauthenticated",
    )
    .await;
}

#[tokio::test]
async fn disabling_twice_is_harmless_and_audited_once() {
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    app.create_user("alice", false).await;
    for _ in 0..2 {
        let answer = app
            .post(&root, "/api/v1/admin/users/ALICE/disable", json!({}))
            .await;
        assert_eq!(answer.status(), 204);
    }
    let events = audit_events(&app, &root, "?username=alice").await;
    let disabled = events
        .iter()
        .filter(|e| e["event"] == "user_disabled")
        .count();
    assert_eq!(disabled, 1);
}

#[tokio::test]
async fn after_a_reset_the_user_must_enrol_and_old_codes_are_worthless() {
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    let (alice, secret, _) = app.signed_in_user_with_totp("alice").await;
    add_key(&app, &alice, &mut Key::new(), "YubiKey").await;
    let before: Value = app
        .login(&client(), "alice", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(before["methods"], json!(["totp", "security_key"]));

    let reset = app.delete(&root, "/api/v1/admin/users/alice/devices").await;
    assert_eq!(reset.status(), 204);

    let c = client();
    let after: Value = app.login(&c, "alice", PASSWORD).await.json().await.unwrap();
    assert_eq!(after, json!({"status": "enrolment_required"}));
    app.next_time_step();
    assert_error(
        app.post(
            &c,
            "/api/v1/login/totp",
            json!({"code": app.totp_code(&secret)}),
        )
        .await,
        401,
        "invalid_code",
    )
    .await;
    let detail = reset_detail(&app, &root, "alice").await;
    assert!(detail.contains("removed 2 second factors"), "{detail}");
}

#[tokio::test]
async fn a_reset_voids_the_users_recovery_codes_too() {
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    let (alice, _, _) = app.signed_in_user_with_totp("alice").await;
    let codes = make_recovery_codes(&app, &alice).await;
    assert_eq!(report_row(&report(&app, &root).await, "alice")[9], "10");

    let reset = app.delete(&root, "/api/v1/admin/users/alice/devices").await;
    assert_eq!(reset.status(), 204);
    // recovery_codes_left
    assert_eq!(report_row(&report(&app, &root).await, "alice")[9], "0");

    // Her next login must enrol; an old code is no way around that.
    let c = client();
    let after: Value = app.login(&c, "alice", PASSWORD).await.json().await.unwrap();
    assert_eq!(after, json!({"status": "enrolment_required"}));
    assert_error(
        app.post(&c, "/api/v1/login/recovery-code", json!({"code": codes[0]}))
            .await,
        401,
        "invalid_code",
    )
    .await;

    // Enrolled again, she holds no codes, and the old ones still open nothing.
    let (alice, _, _) = app.first_sign_in_enrolling_totp("alice").await;
    let me: Value = app.get(&alice, "/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["recovery_codes_left"], 0);
    let c = client();
    let offered: Value = app.login(&c, "alice", PASSWORD).await.json().await.unwrap();
    assert_eq!(offered["methods"], json!(["totp"]));
    for code in &codes[..3] {
        assert_error(
            app.post(&c, "/api/v1/login/recovery-code", json!({"code": code}))
                .await,
            401,
            "invalid_code",
        )
        .await;
    }
    let detail = reset_detail(&app, &root, "alice").await;
    assert!(
        detail.contains("removed 1 second factors and 10 recovery codes"),
        "{detail}"
    );
}

#[tokio::test]
async fn creating_a_user_applies_the_name_and_password_rules() {
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    let create = |body: Value| app.post(&root, "/api/v1/admin/users", body);
    assert_error(
        create(json!({"username": "alice", "password": ""})).await,
        400,
        "weak_password",
    )
    .await;
    assert_error(
        create(json!({"username": "ROOT", "password": PASSWORD})).await,
        409,
        "username_taken",
    )
    .await;
    for bad in [
        json!({"username": "bad name", "password": PASSWORD}),
        json!({"username": "", "password": PASSWORD}),
        json!({"username": "alice"}),
        json!({"password": PASSWORD}),
        json!({"username": "alice", "password": PASSWORD, "admin": "yes"}),
    ] {
        assert_error(create(bad).await, 400, "invalid_request").await;
    }
    assert_eq!(users(&app, &root).await.len(), 1, "nobody was created");
}

#[tokio::test]
async fn acting_on_an_unknown_user_is_a_404() {
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    for (method, path) in [
        ("POST", "/api/v1/admin/users/nobody/disable"),
        ("POST", "/api/v1/admin/users/nobody/enable"),
        ("DELETE", "/api/v1/admin/users/nobody/devices"),
    ] {
        assert_error(app.call(&root, method, path, None).await, 404, "not_found").await;
    }
}

#[tokio::test]
async fn an_admin_cannot_lock_themselves_out_by_disabling_their_own_account() {
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    assert_error(
        app.post(&root, "/api/v1/admin/users/root/disable", json!({}))
            .await,
        400,
        "invalid_request",
    )
    .await;
    assert_eq!(app.get(&root, "/api/v1/me").await.status(), 200);
}

#[tokio::test]
async fn wrong_methods_and_unknown_admin_paths_answer_in_the_api_shape() {
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    assert_error(
        app.delete(&root, "/api/v1/admin/users").await,
        405,
        "method_not_allowed",
    )
    .await;
    assert_error(
        app.get(&root, "/api/v1/admin/users/root/disable").await,
        405,
        "method_not_allowed",
    )
    .await;
    assert_error(
        app.get(&root, "/api/v1/admin/nothing").await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn the_report_has_a_row_for_users_in_every_state() {
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    app.create_user("no-mfa", false).await;
    app.signed_in_user_with_totp("totp-only").await;
    app.create_user("key-only", false).await;
    first_sign_in_enrolling_key(&app, "key-only", &mut Key::new()).await;
    let (both, _, _) = app.signed_in_user_with_totp("both").await;
    add_key(&app, &both, &mut Key::new(), "YubiKey").await;
    app.signed_in_user_with_totp("disabled").await;
    app.post(&root, "/api/v1/admin/users/disabled/disable", json!({}))
        .await;

    let rows = report(&app, &root).await;
    let names: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        names,
        [
            "both",
            "disabled",
            "key-only",
            "no-mfa",
            "root",
            "totp-only"
        ]
    );
    for row in &rows {
        assert_eq!(row.len(), 18, "{row:?}");
        assert_eq!(
            row[11..17],
            ["false", "N/A", "N/A", "false", "N/A", "N/A"],
            "no access keys: {row:?}"
        );
        assert_eq!(row[17], "0", "passkeys, last: {row:?}");
        assert!(row[1].parse::<i64>().is_ok(), "user_id: {row:?}");
        assert!(row[2].ends_with('Z') && row[5].ends_with('Z'), "{row:?}");
    }
    // password_enabled, password_last_used, .., mfa_active, totp, keys, codes, admin
    let state = |name: &str| {
        let r = report_row(&rows, name);
        let last_used = if r[4] == "N/A" { "N/A" } else { "used" };
        [r[3].as_str(), last_used, &r[6], &r[7], &r[8], &r[9], &r[10]].map(str::to_owned)
    };
    assert_eq!(
        state("no-mfa"),
        ["true", "N/A", "false", "0", "0", "0", "false"]
    );
    assert_eq!(
        state("totp-only"),
        ["true", "used", "true", "1", "0", "0", "false"]
    );
    assert_eq!(
        state("key-only"),
        ["true", "used", "true", "0", "1", "0", "false"]
    );
    assert_eq!(
        state("both"),
        ["true", "used", "true", "1", "1", "0", "false"]
    );
    assert_eq!(
        state("disabled"),
        ["false", "used", "true", "1", "0", "0", "false"]
    );
    assert_eq!(
        state("root"),
        ["true", "used", "true", "1", "0", "0", "true"]
    );
}

#[tokio::test]
async fn the_user_list_shows_second_factor_state_and_last_sign_in() {
    let app = spawn_app().await;
    let (_, root_secret, _) = app.signed_in_admin_with_totp("root").await;
    app.create_user("newcomer", false).await;
    let (_, secret, _) = app.signed_in_user_with_totp("regular").await;
    app.clock.advance(3600);
    let before = iso8601(app.now());
    app.sign_in_with_totp("regular", &secret).await;
    let after = iso8601(app.now());
    let root = app.sign_in_with_totp("root", &root_secret).await;

    let listed = users(&app, &root).await;
    assert_eq!(row(&listed, "newcomer")["last_sign_in_at"], Value::Null);
    assert_eq!(row(&listed, "newcomer")["mfa_active"], false);
    let last = row(&listed, "regular")["last_sign_in_at"].as_str().unwrap();
    assert!(
        before.as_str() <= last && last <= after.as_str(),
        "{before} <= {last} <= {after}: the latest sign-in, not the first"
    );
}
