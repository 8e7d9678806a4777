//! Two servers on one PostgreSQL database behave as one service: whatever
//! one instance writes (a session, a used code, a WebAuthn challenge, a
//! throttle counter) the other sees at once. Run in the `TEST_STORE=postgres`
//! pass of the suite; a SQLite file serves one instance only.

use std::sync::Arc;

use base64::Engine;
use reqwest::cookie::{CookieStore, Jar};
use serde_json::json;
use twofold::auth::clock::ShiftedClock;
use twofold::auth::secrets::SecretsKey;
use twofold::config::KeyText;
use twofold::startup::Application;

use crate::helpers::{
    PASSWORD, TestApp, TestStore, assert_error, client, client_with_jar, spawn_app,
    spawn_instance_beside, test_settings,
};
use crate::protection_helpers::{fresh_code, make_recovery_codes, wrong_code};
use crate::soft_key::{Key, finish_sign_in, password_then_key_challenge, signed_in_user_with_key};

/// Instances A and B on one fresh database, or `None` on the SQLite pass.
async fn two_instances() -> Option<(TestApp, TestApp)> {
    if TestStore::current() != TestStore::Postgres {
        eprintln!("skipped on SQLite: several instances need PostgreSQL");
        return None;
    }
    let a = spawn_app().await;
    let b = spawn_instance_beside(&a).await;
    assert_ne!(a.port, b.port);
    Some((a, b))
}

/// The `Cookie` header a client with `jar` sends to `app`.
fn cookie_header(app: &TestApp, jar: &Jar) -> String {
    let url = app.address.parse().unwrap();
    jar.cookies(&url).unwrap().to_str().unwrap().to_owned()
}

/// A request that replays a saved `Cookie` header, as a stolen or kept
/// cookie would be.
async fn with_cookie(app: &TestApp, path: &str, cookie: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(app.url(path))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_session_made_on_one_instance_works_on_the_other_and_a_logout_ends_it_on_both() {
    let Some((a, b)) = two_instances().await else {
        return;
    };
    let (other, secret, _) = a.signed_in_user_with_totp("alice").await;
    let (c, jar) = client_with_jar();
    a.sign_in_with_totp_using(&c, "alice", &secret).await;
    let cookie = cookie_header(&a, &jar);
    assert_eq!(with_cookie(&b, "/api/v1/me", &cookie).await.status(), 200);
    assert_eq!(
        with_cookie(&b, "/api/v1/verify", &cookie).await.status(),
        200
    );

    assert_eq!(a.post(&c, "/api/v1/logout", json!({})).await.status(), 204);
    // The same cookie, replayed on B right after: the session is gone there too.
    let replay = with_cookie(&b, "/api/v1/me", &cookie).await;
    assert_error(replay, 401, "unauthenticated").await;
    assert_eq!(
        with_cookie(&b, "/api/v1/verify", &cookie).await.status(),
        401
    );
    assert_eq!(
        b.get(&other, "/api/v1/me").await.status(),
        200,
        "her other session lives"
    );
}

#[tokio::test]
async fn a_totp_code_used_on_one_instance_is_refused_on_the_other() {
    let Some((a, b)) = two_instances().await else {
        return;
    };
    let (_, secret, _) = a.signed_in_user_with_totp("carol").await;
    let code = fresh_code(&a, &secret);
    let on_a = client();
    assert_eq!(a.login(&on_a, "carol", PASSWORD).await.status(), 200);
    let on_b = client();
    assert_eq!(b.login(&on_b, "carol", PASSWORD).await.status(), 200);
    let answer = a
        .post(&on_a, "/api/v1/login/totp", json!({"code": code}))
        .await;
    assert_eq!(answer.status(), 200);
    let replay = b
        .post(&on_b, "/api/v1/login/totp", json!({"code": code}))
        .await;
    assert_error(replay, 401, "invalid_code").await;
}

#[tokio::test]
async fn a_webauthn_challenge_begun_on_one_instance_is_finished_on_the_other() {
    let Some((a, b)) = two_instances().await else {
        return;
    };
    let mut key = Key::new();
    signed_in_user_with_key(&a, "dave", &mut key).await;
    let (c, options) = password_then_key_challenge(&a, "dave").await;
    // The browser is on the public origin (A's); B serves the same origin.
    let assertion = key.get(&a.address, options);
    let answer = finish_sign_in(&b, &c, assertion.clone()).await;
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
    assert_eq!(a.get(&c, "/api/v1/me").await.status(), 200);
    // The challenge was taken: the same answer on A finds nothing.
    let (c2, _) = password_then_key_challenge(&b, "dave").await;
    let replay = finish_sign_in(&a, &c2, assertion).await;
    assert_eq!(replay.status(), 401);
}

#[tokio::test]
async fn guesses_spread_over_both_instances_hit_one_limit() {
    let Some((a, b)) = two_instances().await else {
        return;
    };
    a.create_user("erin", false).await;
    // Five wrong passwords for one account from one address, alternating.
    for i in 0..5 {
        let app = if i % 2 == 0 { &a } else { &b };
        let answer = app.login(&client(), "erin", "wrong password").await;
        assert_error(answer, 401, "invalid_credentials").await;
    }
    for app in [&a, &b] {
        let answer = app.login(&client(), "erin", PASSWORD).await;
        assert_error(answer, 429, "too_many_attempts").await;
    }
}

#[tokio::test]
async fn wrong_codes_spread_over_both_instances_count_together() {
    let Some((a, b)) = two_instances().await else {
        return;
    };
    let (_, secret, _) = a.signed_in_user_with_totp("fay").await;
    let right = fresh_code(&a, &secret);
    // A pending login voids after five wrong codes, whichever instance saw them.
    let c = client();
    assert_eq!(a.login(&c, "fay", PASSWORD).await.status(), 200);
    for i in 0..5 {
        let app = if i % 2 == 0 { &a } else { &b };
        let answer = app
            .post(
                &c,
                "/api/v1/login/totp",
                json!({"code": wrong_code(&right)}),
            )
            .await;
        assert_eq!(answer.status(), 401);
    }
    let answer = b
        .post(&c, "/api/v1/login/totp", json!({"code": right}))
        .await;
    assert_eq!(answer.status(), 401, "the pending login is void on both");
}

#[tokio::test]
async fn a_recovery_code_raced_on_both_instances_works_once() {
    let Some((a, b)) = two_instances().await else {
        return;
    };
    let (session, _, _) = a.signed_in_user_with_totp("gus").await;
    let codes = make_recovery_codes(&a, &session).await;
    let code = codes[0].clone();
    let mut pending = Vec::new();
    for i in 0..8 {
        let c = client();
        let app = if i % 2 == 0 { &a } else { &b };
        assert_eq!(app.login(&c, "gus", PASSWORD).await.status(), 200);
        pending.push((i, c));
    }
    let attempts: Vec<_> = pending
        .into_iter()
        .map(|(i, c)| {
            let app = if i % 2 == 0 { &a } else { &b };
            let url = app.url("/api/v1/login/recovery-code");
            let code = code.clone();
            tokio::spawn(async move {
                let answer = c.post(url).json(&json!({"code": code})).send().await;
                answer.unwrap().status()
            })
        })
        .collect();
    let mut accepted = 0;
    for attempt in attempts {
        accepted += (attempt.await.unwrap() == 200) as usize;
    }
    assert_eq!(accepted, 1, "one code, one sign-in");
}

#[tokio::test]
async fn a_lost_device_reset_or_a_disable_on_one_instance_ends_sessions_on_the_other() {
    let Some((a, b)) = two_instances().await else {
        return;
    };
    a.create_user("root", true).await;
    let (root, _, _) = a.first_sign_in_enrolling_totp("root").await;
    let (hana, _, _) = a.signed_in_user_with_totp("hana").await;
    assert_eq!(b.get(&hana, "/api/v1/me").await.status(), 200);
    let reset = a.delete(&root, "/api/v1/admin/users/hana/devices").await;
    assert_eq!(reset.status(), 204);
    assert_error(b.get(&hana, "/api/v1/me").await, 401, "unauthenticated").await;
    assert_eq!(b.get(&hana, "/api/v1/verify").await.status(), 401);

    let (ivy, _, _) = a.signed_in_user_with_totp("ivy").await;
    assert_eq!(b.get(&ivy, "/api/v1/verify").await.status(), 200);
    let disabled = b
        .post(&root, "/api/v1/admin/users/ivy/disable", json!({}))
        .await;
    assert_eq!(disabled.status(), 204);
    assert_eq!(a.get(&ivy, "/api/v1/verify").await.status(), 401);
    assert_error(a.get(&ivy, "/api/v1/me").await, 401, "unauthenticated").await;
}

#[tokio::test]
async fn a_session_ended_from_the_list_on_one_instance_is_refused_on_the_other() {
    let Some((a, b)) = two_instances().await else {
        return;
    };
    let (laptop, secret, _) = a.signed_in_user_with_totp("jo").await;
    let phone = b.sign_in_with_totp("jo", &secret).await;
    assert_eq!(b.get(&phone, "/api/v1/verify").await.status(), 200);
    let listed: serde_json::Value = a
        .get(&laptop, "/api/v1/me/sessions")
        .await
        .json()
        .await
        .unwrap();
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{listed}");
    let phones = sessions
        .iter()
        .find(|s| s["current"] == false)
        .expect("the phone's session is listed");
    let id = phones["id"].as_str().unwrap();
    let ended = a
        .delete(&laptop, &format!("/api/v1/me/sessions/{id}"))
        .await;
    assert_eq!(ended.status(), 204);
    assert_eq!(b.get(&phone, "/api/v1/verify").await.status(), 401);
    assert_error(b.get(&phone, "/api/v1/me").await, 401, "unauthenticated").await;
    assert_eq!(b.get(&laptop, "/api/v1/me").await.status(), 200);
}

#[tokio::test]
async fn the_housekeeping_sweep_runs_on_both_instances_at_once() {
    let Some((a, b)) = two_instances().await else {
        return;
    };
    let (live, _, _) = a.signed_in_user_with_totp("jack").await;
    let (_, secret, _) = a.signed_in_user_with_totp("kate").await;
    let old = a.sign_in_with_totp("kate", &secret).await;
    // Kate's session idles out; Jack's is kept alive.
    a.clock.advance(20 * 60);
    assert_eq!(b.get(&live, "/api/v1/me").await.status(), 200);
    a.clock.advance(15 * 60);
    let (auth_a, auth_b) = (a.auth().await, b.auth().await);
    let (swept_a, swept_b) = tokio::join!(auth_a.delete_expired(), auth_b.delete_expired());
    let (swept_a, swept_b) = (swept_a.unwrap(), swept_b.unwrap());
    assert!(swept_a + swept_b >= 1, "the idle session was swept once");
    assert_eq!(auth_a.delete_expired().await.unwrap(), 0);
    assert_eq!(b.get(&live, "/api/v1/me").await.status(), 200);
    assert_eq!(a.get(&old, "/api/v1/me").await.status(), 401);
}

#[tokio::test]
async fn instances_starting_together_on_a_new_database_all_come_up() {
    if TestStore::current() != TestStore::Postgres {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let mut settings = test_settings(data.path());
    // As the contract asks, every instance is given the same secrets key.
    let key = base64::engine::general_purpose::STANDARD.encode(SecretsKey::generate_bytes());
    settings.secrets.key = KeyText(key);
    let clock = Arc::new(ShiftedClock::default());
    let (a, b, c) = tokio::join!(
        Application::build_with_clock(settings.clone(), clock.clone()),
        Application::build_with_clock(settings.clone(), clock.clone()),
        Application::build_with_clock(settings.clone(), clock.clone()),
    );
    let mut ports = Vec::new();
    for app in [a, b, c] {
        let app = app.expect("every instance comes up");
        ports.push(app.port());
        tokio::spawn(app.run_until_stopped());
    }
    for port in ports {
        let health = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
    }
}
