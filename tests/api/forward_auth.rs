//! `/api/v1/verify` as a reverse proxy calls it: on every request, so it must
//! not write on every call, and must never wait behind password hashing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::cookie::{CookieStore, Jar};
use twofold::auth::session::Token;

use crate::helpers::{PASSWORD, client, spawn_app_with};

/// The session's `last_seen_at`, read through the store, to see whether
/// verify wrote it.
async fn last_seen_at(app: &crate::helpers::TestApp, jar: &Jar) -> i64 {
    let url = app.address.parse().unwrap();
    let cookies = jar.cookies(&url).unwrap();
    let token = cookies
        .to_str()
        .unwrap()
        .split("; ")
        .find_map(|c| c.strip_prefix("twofold_session="))
        .expect("a session cookie");
    let store = app.store().await;
    let hash = Token::from_client(token).hash();
    store.session(hash).await.unwrap().unwrap().last_seen_at
}

#[tokio::test]
async fn verify_writes_the_idle_timeout_back_at_most_once_a_minute() {
    let app = spawn_app_with(|_| {}).await;
    let (_, secret, _) = app.signed_in_user_with_totp("alice").await;
    let (c, jar) = crate::helpers::client_with_jar();
    app.sign_in_with_totp_using(&c, "alice", &secret).await;
    let signed_in_at = last_seen_at(&app, &jar).await;
    app.clock.advance(30);
    for _ in 0..20 {
        assert_eq!(app.get(&c, "/api/v1/verify").await.status(), 200);
    }
    assert_eq!(
        last_seen_at(&app, &jar).await,
        signed_in_at,
        "no write within the minute"
    );
    app.clock.advance(31);
    assert_eq!(app.get(&c, "/api/v1/verify").await.status(), 200);
    assert!(
        last_seen_at(&app, &jar).await >= signed_in_at + 61,
        "written once the minute passed"
    );
}

#[tokio::test]
async fn verify_answers_while_password_hashes_are_queued() {
    // One hashing thread and a costly hash: twenty logins queue for seconds.
    let app = spawn_app_with(|s| {
        s.password.hash_threads = 1;
        s.password.argon2_memory_kib = 32 * 1024;
        s.password.argon2_iterations = 4;
        s.throttle.enabled = false;
    })
    .await;
    let (session, _, _) = app.signed_in_user_with_totp("bob").await;
    let finished = Arc::new(AtomicUsize::new(0));
    let logins: Vec<_> = (0..20)
        .map(|_| {
            let (url, finished) = (app.url("/api/v1/login"), finished.clone());
            tokio::spawn(async move {
                let body = serde_json::json!({"username": "bob", "password": PASSWORD});
                let answer = client().post(url).json(&body).send().await.unwrap();
                finished.fetch_add(1, Ordering::SeqCst);
                answer.status()
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    for _ in 0..5 {
        assert_eq!(app.get(&session, "/api/v1/verify").await.status(), 200);
    }
    let done_when_verified = finished.load(Ordering::SeqCst);
    assert!(
        done_when_verified < 20,
        "verify was not held behind the hashing queue ({done_when_verified} logins done)"
    );
    for login in logins {
        assert_eq!(login.await.unwrap(), 200);
    }
}
