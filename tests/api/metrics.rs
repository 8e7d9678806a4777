//! `GET /metrics` over HTTP: the counters move with what clients do, and
//! only the addresses of `metrics.allowed_ips` may read them, judged on the
//! client address as trusted proxies report it.

use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, assert_error, client, spawn_app, spawn_app_with};

/// The value of the sample `series` (name with labels, as written), or 0
/// when the series has not been written yet.
async fn sample(app: &TestApp, series: &str) -> f64 {
    let text = scrape(app).await;
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

async fn scrape(app: &TestApp) -> String {
    let answer = app.get(&client(), "/metrics").await;
    assert_eq!(answer.status(), 200);
    let content_type = answer.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    answer.text().await.unwrap()
}

const PASSWORD_FAILURES: &str = r#"twofold_sign_ins_total{method="password",outcome="failure"}"#;

#[tokio::test]
async fn a_failed_sign_in_moves_the_password_failure_counter() {
    let app = spawn_app().await;
    app.create_user("alice", false).await;
    let before = sample(&app, PASSWORD_FAILURES).await;

    let answer = app.login(&client(), "alice", "not the password").await;
    assert_error(answer, 401, "invalid_credentials").await;
    assert_eq!(sample(&app, PASSWORD_FAILURES).await, before + 1.0);

    let answer = app.login(&client(), "alice", PASSWORD).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(sample(&app, PASSWORD_FAILURES).await, before + 1.0);
    assert_eq!(
        sample(
            &app,
            r#"twofold_sign_ins_total{method="password",outcome="success"}"#
        )
        .await,
        1.0
    );
}

#[tokio::test]
async fn second_factors_throttling_and_sessions_are_counted() {
    let app = spawn_app_with(|settings| settings.throttle.account_ip_max_failures = 1).await;
    let (_, secret, _) = app.signed_in_user_with_totp("alice").await;
    assert_eq!(sample(&app, "twofold_sessions").await, 1.0);

    let signed_in = app.sign_in_with_totp("alice", &secret).await;
    assert_eq!(
        sample(
            &app,
            r#"twofold_sign_ins_total{method="totp",outcome="success"}"#
        )
        .await,
        1.0
    );
    assert_eq!(sample(&app, "twofold_sessions").await, 2.0);
    let logout = app.post(&signed_in, "/api/v1/logout", json!({})).await;
    assert_eq!(logout.status(), 204);
    assert_eq!(sample(&app, "twofold_sessions").await, 1.0);

    // One failure is allowed; the next attempt is refused by the limit.
    app.login(&client(), "alice", "wrong one").await;
    let refused = app.login(&client(), "alice", "wrong two").await;
    assert_error(refused, 429, "too_many_attempts").await;
    assert_eq!(
        sample(
            &app,
            r#"twofold_throttled_total{limit="password_account_ip"}"#
        )
        .await,
        1.0
    );
    assert_eq!(
        sample(
            &app,
            r#"twofold_sign_ins_total{method="password",outcome="throttled"}"#
        )
        .await,
        1.0
    );
    assert_eq!(sample(&app, "twofold_password_hash_queue_depth").await, 0.0);
}

#[tokio::test]
async fn verify_decisions_and_their_duration_are_counted() {
    let app = spawn_app().await;
    let (signed_in, _, _) = app.signed_in_user_with_totp("alice").await;
    for _ in 0..3 {
        assert_eq!(app.get(&signed_in, "/api/v1/verify").await.status(), 200);
    }
    assert_eq!(app.get(&client(), "/api/v1/verify").await.status(), 401);

    assert_eq!(
        sample(&app, r#"twofold_verify_decisions_total{decision="allow"}"#).await,
        3.0
    );
    assert_eq!(
        sample(&app, r#"twofold_verify_decisions_total{decision="deny"}"#).await,
        1.0
    );
    assert_eq!(
        sample(&app, "twofold_verify_duration_seconds_count").await,
        4.0
    );
    let text = scrape(&app).await;
    assert!(
        text.contains("# TYPE twofold_verify_duration_seconds histogram"),
        "{text}"
    );
    assert!(
        text.contains(r#"twofold_verify_duration_seconds_bucket{le="+Inf"} 4"#),
        "{text}"
    );
}

#[tokio::test]
async fn an_address_outside_allowed_ips_gets_403() {
    let app = spawn_app_with(|settings| {
        settings.metrics.allowed_ips = vec!["10.0.0.0/8".into()];
    })
    .await;
    let answer = app.get(&client(), "/metrics").await;
    assert_error(answer, 403, "forbidden").await;
    // A client can't claim another address without a trusted proxy.
    let forged = client()
        .get(app.url("/metrics"))
        .header("X-Forwarded-For", "10.1.2.3")
        .send()
        .await
        .unwrap();
    assert_error(forged, 403, "forbidden").await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_judged() {
    let app = spawn_app_with(|settings| {
        settings.server.trusted_proxies = vec!["127.0.0.1".into()];
        settings.metrics.allowed_ips = vec!["10.0.0.0/8".into()];
    })
    .await;
    let from = |ip: &'static str| {
        client()
            .get(app.url("/metrics"))
            .header("X-Forwarded-For", ip)
            .send()
    };
    assert_eq!(from("10.1.2.3").await.unwrap().status(), 200);
    assert_error(from("203.0.113.9").await.unwrap(), 403, "forbidden").await;
}

#[tokio::test]
async fn the_grafana_dashboard_shows_every_series_the_server_writes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/grafana-dashboard.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("valid JSON");
    let queries: Vec<String> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|panel| panel["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|target| target["expr"].as_str().map(str::to_owned))
        .collect();
    let app = spawn_app_with(|settings| settings.throttle.account_ip_max_failures = 1).await;
    // A failure, then a refusal by the limit: every family has a sample.
    app.login(&client(), "nobody", "wrong").await;
    app.login(&client(), "nobody", "wrong").await;
    app.get(&client(), "/api/v1/verify").await;
    let text = scrape(&app).await;
    let series = [
        "twofold_sign_ins_total",
        "twofold_throttled_total",
        "twofold_verify_decisions_total",
        "twofold_verify_duration_seconds_bucket",
        "twofold_password_hash_queue_depth",
        "twofold_sessions",
    ];
    for name in series {
        assert!(
            queries.iter().any(|query| query.contains(name)),
            "no panel shows {name}"
        );
        let family = name.trim_end_matches("_total").trim_end_matches("_bucket");
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{name} not written: {text}"
        );
    }
}
