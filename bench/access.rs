//! The cost of access decisions at forward-auth: `/api/v1/verify` req/s for
//! a user holding 50 policies of 20 statements (through 5 groups) ÷ the same
//! with no policy at all, in alternating rounds of one run, so both see the
//! same background load. Every statement is evaluated (none matches the
//! request, so nothing stops early) and the default allows: each verify is a
//! 200.
//!
//! Run: `cargo bench --bench access` (needs `wrk`: `apt-get install wrk`).

use std::process::{Command, Stdio};

#[path = "common.rs"]
mod common;
use common::*;

const GROUPS: usize = 5;
const POLICIES: usize = 50;
const STATEMENTS: usize = 20;
const ROUNDS: usize = 3;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("run with: cargo bench --bench access");
        return;
    }
    let load_before = load_average();
    let bin = env!("CARGO_BIN_EXE_twofold");
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://localhost:{port}");
    let env = server_env(data.path(), port);
    add_users(bin, &env, &["bench".to_owned()]);
    let _server = serve(bin, &env, &base).await;
    let cookie = session_cookie(&base).await;
    let dir = data.path();
    let verify_lua = script(
        dir,
        "verify.lua",
        &format!(
            "wrk.headers[\"Cookie\"] = \"{cookie}\"\n\
             wrk.headers[\"X-Original-Method\"] = \"GET\"\n\
             wrk.headers[\"X-Original-URL\"] = \"https://grafana.example.com/d/1?orgId=1\"\n"
        ),
    );
    let url = format!("http://127.0.0.1:{port}/api/v1/verify");
    let twofold = |args: &[&str]| {
        let done = Command::new(bin)
            .args(args)
            .envs(env.iter().cloned())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(done.success(), "twofold {args:?}");
    };

    // The policies, written but not yet attached: "none" first.
    for g in 0..GROUPS {
        let group = format!("team{g}");
        twofold(&["group", "add", &group]);
        twofold(&["group", "add-member", &group, "bench"]);
    }
    for p in 0..POLICIES {
        let statements: Vec<String> = (0..STATEMENTS)
            .map(|s| {
                format!(
                    r#"{{"Sid": "S{s}", "Effect": "{}", "Action": ["http:GET", "http:POST"],
                        "Resource": "https://app{p}-{s}.example.com/*",
                        "Condition": {{"StringEquals": {{"twofold:MfaMethod": ["totp", "security_key"]}}}}}}"#,
                    if s % 2 == 0 { "Allow" } else { "Deny" }
                )
            })
            .collect();
        let document = format!(
            r#"{{"Version": "2026-12-01", "Statement": [{}]}}"#,
            statements.join(",")
        );
        let file = dir.join(format!("p{p}.json"));
        std::fs::write(&file, document).unwrap();
        twofold(&["policy", "put", &format!("p{p}"), file.to_str().unwrap()]);
    }
    let attach = |attach: &str| {
        for p in 0..POLICIES {
            let group = format!("team{}", p % GROUPS);
            twofold(&["policy", attach, &format!("p{p}"), "--group", &group]);
        }
        // Past the second in which instances read the access version again.
        std::thread::sleep(std::time::Duration::from_millis(1500));
    };

    let (mut none_sum, mut held_sum) = (0.0, 0.0);
    for _ in 0..ROUNDS {
        let none = wrk(&url, &verify_lua, 1, 16, SECONDS);
        assert_eq!(none.non_2xx, 0, "every verify is a 200");
        none_sum += none.requests_per_sec;
        attach("attach");
        let held = wrk(&url, &verify_lua, 1, 16, SECONDS);
        assert_eq!(held.non_2xx, 0, "every verify is a 200");
        held_sum += held.requests_per_sec;
        attach("detach");
    }
    let (none, held) = (none_sum / ROUNDS as f64, held_sum / ROUNDS as f64);
    println!(
        "machine: {} cores; load average before the run: {load_before}, after: {}",
        cores(),
        load_average()
    );
    println!("| figure | measured | target |");
    println!("| --- | --- | --- |");
    println!(
        "| verify req/s with {POLICIES} policies × {STATEMENTS} statements (via {GROUPS} groups) ÷ with none | {held:.0} ÷ {none:.0} = **{:.2}** | ≥ 0.8 |",
        held / none
    );
}
