//! The audit trail as administrators read it: who did what, when, from where,
//! newest first, never a secret; filtered by user, limited, and pruned after
//! its retention.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, assert_error, client, spawn_app, spawn_app_with};

const DAY: i64 = 24 * 60 * 60;

async fn events(app: &TestApp, admin: &reqwest::Client, query: &str) -> Vec<Value> {
    let answer = app.get(admin, &format!("/api/v1/admin/audit{query}")).await;
    assert_eq!(answer.status(), 200, "{query}");
    let body: Value = answer.json().await.unwrap();
    body["events"].as_array().unwrap().clone()
}

fn names(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn sign_ins_are_recorded_with_ip_user_agent_and_details_but_no_secret() {
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    let (_, secret, _) = app.signed_in_user_with_totp("alice").await;

    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .user_agent("Firefox/140 (test)")
        .build()
        .unwrap();
    let wrong = app.login(&browser, "alice", "not her password").await;
    assert_eq!(wrong.status(), 401);
    app.login(&browser, "alice", PASSWORD).await;
    app.next_time_step();
    let wrong_code = if app.totp_code(&secret) == "000000" {
        "111111"
    } else {
        "000000"
    };
    app.post(&browser, "/api/v1/login/totp", json!({"code": wrong_code}))
        .await;
    let code = app.totp_code(&secret);
    let ok = app
        .post(&browser, "/api/v1/login/totp", json!({"code": code}))
        .await;
    assert_eq!(ok.status(), 200);
    browser
        .post(app.url("/api/v1/logout"))
        .send()
        .await
        .unwrap();

    let trail = events(&app, &root, "?username=alice").await;
    assert_eq!(
        names(&trail)[..5],
        [
            "logout",
            "login_second_factor_ok",
            "login_second_factor_failed",
            "login_password_ok",
            "login_password_failed"
        ]
    );
    for event in &trail[..5] {
        assert_eq!(event["username"], "alice");
        assert_eq!(event["ip"], "127.0.0.1");
        assert_eq!(event["user_agent"], "Firefox/140 (test)");
    }
    assert!(trail[1]["detail"].as_str().unwrap().contains("method=totp"));
    assert!(
        trail[1]["detail"]
            .as_str()
            .unwrap()
            .contains("device=phone")
    );
    assert!(trail[2]["detail"].as_str().unwrap().contains("method=totp"));
    // The enrolment at her first sign-in is there too, oldest last.
    assert_eq!(names(&trail).last(), Some(&"user_created"));
    assert!(names(&trail).contains(&"device_enrolled"));

    let everything = serde_json::to_string(&events(&app, &root, "?limit=1000").await).unwrap();
    for secret_text in [PASSWORD, "not her password", &secret, &code] {
        assert!(
            !everything.contains(secret_text),
            "{secret_text:?} leaked into the audit trail"
        );
    }
}

#[tokio::test]
async fn the_trail_is_newest_first_filtered_by_user_and_limited() {
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    for name in ["alice", "bob"] {
        app.post(
            &root,
            "/api/v1/admin/users",
            json!({"username": name, "password": PASSWORD}),
        )
        .await;
        app.clock.advance(1);
    }
    let all = events(&app, &root, "").await;
    assert_eq!(all[0]["username"], "bob");
    assert_eq!(all[1]["username"], "alice");
    let times: Vec<&str> = all.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");

    let bob = events(&app, &root, "?username=BOB").await;
    assert_eq!(names(&bob), ["user_created"]);
    assert_eq!(bob[0]["username"], "bob");
    assert_eq!(bob[0]["detail"], "admin=false by=root");

    assert_eq!(events(&app, &root, "?limit=2").await.len(), 2);
    assert_eq!(
        events(&app, &root, "?username=&limit=").await.len(),
        all.len()
    );
    assert!(events(&app, &root, "?username=nobody").await.is_empty());
    for bad in ["?limit=0", "?limit=1001", "?limit=ten", "?limit=-1"] {
        assert_error(
            app.get(&root, &format!("/api/v1/admin/audit{bad}")).await,
            400,
            "invalid_request",
        )
        .await;
    }
}

#[tokio::test]
async fn no_api_deletes_audit_events() {
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    let before = events(&app, &root, "").await.len();
    let answer = app.delete(&root, "/api/v1/admin/audit").await;
    assert_error(answer, 405, "method_not_allowed").await;
    assert_eq!(events(&app, &root, "").await.len(), before);
}

#[tokio::test]
async fn events_are_kept_ninety_days_by_default_then_pruned() {
    let app = spawn_app().await;
    app.create_user("alice", false).await;
    app.login(&client(), "alice", PASSWORD).await;
    let auth = app.auth().await;
    let trail = |auth: twofold::auth::Auth| async move {
        auth.audit_events(
            &twofold::auth::admin::Actor::host_operator(),
            Some("alice"),
            100,
        )
        .await
        .unwrap()
        .len()
    };
    assert_eq!(
        trail(app.auth().await).await,
        2,
        "user_created, login_password_ok"
    );

    app.clock.advance(89 * DAY);
    assert_eq!(auth.prune_audit_trail().await.unwrap(), 0);
    app.login(&client(), "alice", "wrong").await;
    assert_eq!(trail(app.auth().await).await, 3);

    app.clock.advance(2 * DAY);
    assert_eq!(auth.prune_audit_trail().await.unwrap(), 2);
    assert_eq!(
        trail(app.auth().await).await,
        1,
        "the 2-day-old event stays"
    );
}

#[tokio::test]
async fn retention_is_configurable_and_zero_keeps_everything() {
    let short = spawn_app_with(|s| s.audit.retention_days = 7).await;
    short.create_user("alice", false).await;
    short.clock.advance(8 * DAY);
    assert_eq!(short.auth().await.prune_audit_trail().await.unwrap(), 1);

    let forever = spawn_app_with(|s| s.audit.retention_days = 0).await;
    forever.create_user("alice", false).await;
    forever.clock.advance(10_000 * DAY);
    assert_eq!(forever.auth().await.prune_audit_trail().await.unwrap(), 0);
}

#[test]
fn the_example_config_documents_the_default_retention() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/twofold.example.toml");
    let settings = twofold::config::Settings::load(Some(std::path::Path::new(example))).unwrap();
    assert_eq!(settings.audit.retention_days, 90);
    assert_eq!(settings, twofold::config::Settings::default());
}

#[tokio::test]
async fn the_server_prunes_old_events_when_it_starts() {
    let app = spawn_app().await;
    app.create_user("alice", false).await;
    let count = || async {
        app.auth()
            .await
            .audit_events(
                &twofold::auth::admin::Actor::host_operator(),
                Some("alice"),
                100,
            )
            .await
            .unwrap()
            .len()
    };
    assert_eq!(count().await, 1);

    // The same database served again, 91 days later.
    let later = std::sync::Arc::new(twofold::auth::clock::ShiftedClock::default());
    later.advance(91 * DAY);
    let server = twofold::startup::Application::build_with_clock(app.settings.clone(), later)
        .await
        .unwrap();
    let _running = tokio::spawn(server.run_until_stopped());
    for _ in 0..100 {
        if count().await == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the 91-day-old event was not pruned");
}
