//! What a script's credential costs at forward-auth: `/api/v1/verify` req/s
//! with `Authorization: Bearer` (a temporary credential made from an access
//! key) ÷ with a session cookie, in alternating rounds of one run so both
//! see the same background load. Target ≥ 0.8.
//!
//! Run: `cargo bench --bench programmatic` (needs `wrk`: `apt-get install
//! wrk`); `-- --quick` runs one short round, to check it works.

use serde_json::Value;

#[path = "common.rs"]
mod common;
use common::*;

const ROUNDS: usize = 3;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("run with: cargo bench --bench programmatic");
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, seconds) = if quick { (1, 1) } else { (ROUNDS, SECONDS) };
    let load_before = load_average();
    let bin = env!("CARGO_BIN_EXE_twofold");
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://localhost:{port}");
    let env = server_env(data.path(), port);
    add_users(bin, &env, &["bench".to_owned()]);
    let _server = serve(bin, &env, &base).await;
    let cookie = session_cookie(&base).await;
    let token = bearer_token(&base, &cookie).await;
    let dir = data.path();
    let original = "wrk.headers[\"X-Original-Method\"] = \"GET\"\n\
                    wrk.headers[\"X-Original-URL\"] = \"https://grafana.example.com/d/1?orgId=1\"\n";
    let with_cookie = script(
        dir,
        "cookie.lua",
        &format!("wrk.headers[\"Cookie\"] = \"{cookie}\"\n{original}"),
    );
    let with_bearer = script(
        dir,
        "bearer.lua",
        &format!("wrk.headers[\"Authorization\"] = \"Bearer {token}\"\n{original}"),
    );
    let url = format!("http://127.0.0.1:{port}/api/v1/verify");
    let (mut cookie_sum, mut bearer_sum) = (0.0, 0.0);
    for _ in 0..rounds {
        let session = wrk(&url, &with_cookie, 1, 16, seconds);
        assert_eq!(session.non_2xx, 0, "every verify is a 200");
        cookie_sum += session.requests_per_sec;
        let bearer = wrk(&url, &with_bearer, 1, 16, seconds);
        assert_eq!(bearer.non_2xx, 0, "every verify is a 200");
        bearer_sum += bearer.requests_per_sec;
    }
    let (session, bearer) = (cookie_sum / rounds as f64, bearer_sum / rounds as f64);
    println!(
        "machine: {} cores; load average before the run: {load_before}, after: {}",
        cores(),
        load_average()
    );
    println!("| figure | measured | target |");
    println!("| --- | --- | --- |");
    println!(
        "| verify req/s with a Bearer token ÷ with a session cookie | {bearer:.0} ÷ {session:.0} = **{:.2}** | ≥ 0.8 |",
        bearer / session
    );
}

/// An access key made with the fresh session, exchanged for a token.
async fn bearer_token(base: &str, cookie: &str) -> String {
    let client = reqwest::Client::new();
    let key: Value = client
        .post(format!("{base}/api/v1/me/access-keys"))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (id, secret) = (
        key["access_key_id"].as_str().expect("a key was made"),
        key["secret_access_key"].as_str().unwrap(),
    );
    let token: Value = client
        .post(format!("{base}/api/v1/sts/session-token"))
        .basic_auth(id, Some(secret))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    token["token"].as_str().expect("a token").to_owned()
}
