//! Helpers shared by the account-protection tests: reading the audit trail
//! and stored rows through the store, wrong codes, recovery codes.
#![allow(dead_code)]

use serde_json::{Value, json};

use crate::helpers::TestApp;

/// A row of the audit trail.
#[derive(Debug)]
pub struct Event {
    pub event: String,
    pub username: Option<String>,
    pub ip: Option<String>,
    pub detail: String,
}

/// The audit trail, oldest first, read through the store.
pub async fn audit_events(app: &TestApp) -> Vec<Event> {
    let mut events = app.store().await.events(None, u32::MAX).await.unwrap();
    events.reverse();
    events
        .into_iter()
        .map(|e| Event {
            event: e.event,
            username: e.username,
            ip: e.ip,
            detail: e.detail,
        })
        .collect()
}

/// The stored password hash of a user.
pub async fn password_hash(app: &TestApp, username: &str) -> String {
    let store = app.store().await;
    let user = store.user_by_name(username).await.unwrap();
    user.expect("the user exists").password_hash
}

/// A six-digit code that is not `right`.
pub fn wrong_code(right: &str) -> String {
    format!("{:06}", (right.parse::<u32>().unwrap() + 1) % 1_000_000)
}

/// The code the app shows at the next time step (a code works once).
pub fn fresh_code(app: &TestApp, secret: &str) -> String {
    app.next_time_step();
    app.totp_code(secret)
}

/// Makes a new set of recovery codes with a session that passed a second
/// factor recently.
pub async fn make_recovery_codes(app: &TestApp, session: &reqwest::Client) -> Vec<String> {
    let answer = app
        .post(session, "/api/v1/me/recovery-codes", json!({}))
        .await;
    assert_eq!(answer.status(), 201);
    let body: Value = answer.json().await.unwrap();
    body["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

/// A login from a client address named by a trusted proxy.
pub async fn login_from(
    app: &TestApp,
    client: &reqwest::Client,
    forwarded_for: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(app.url("/api/v1/login"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

/// The `Retry-After` of a 429, in seconds.
pub fn retry_after(response: &reqwest::Response) -> i64 {
    response
        .headers()
        .get("retry-after")
        .expect("a Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}
