//! The host operator's break-glass commands, run as the real binary against
//! the database of a running server.

use std::process::Output;

use serde_json::{Value, json};

use crate::cli::twofold;
use crate::helpers::{PASSWORD, TestApp, assert_error, client, spawn_app};

fn run(app: &TestApp, args: &[&str]) -> Output {
    twofold(app.data.path(), args, "")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The cells of `user list`'s row for `name`.
fn listed(list: &str, name: &str) -> Vec<String> {
    list.lines()
        .map(|line| {
            line.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .find(|cells| cells[0] == name)
        .unwrap_or_else(|| panic!("{name} in\n{list}"))
}

#[tokio::test]
async fn user_list_shows_every_user_of_the_running_server() {
    let app = spawn_app().await;
    app.signed_in_admin_with_totp("root").await;
    app.create_user("newcomer", false).await;

    let list = stdout(&run(&app, &["user", "list"]));
    let header: Vec<&str> = list
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .filter(|c| !c.is_empty())
        .map(str::trim)
        .collect();
    assert_eq!(
        header,
        [
            "USER",
            "ADMIN",
            "DISABLED",
            "MFA",
            "TOTP",
            "KEYS",
            "LAST SIGN-IN",
            "CREATED"
        ]
    );
    assert_eq!(list.lines().count(), 3);
    let root = listed(&list, "root");
    assert_eq!(root[1..6], ["yes", "no", "yes", "1", "0"]);
    assert!(root[6].ends_with('Z'), "last sign-in: {root:?}");
    let newcomer = listed(&list, "newcomer");
    assert_eq!(newcomer[1..7], ["no", "no", "no", "0", "0", "never"]);
}

#[tokio::test]
async fn the_operator_disables_and_enables_a_user_of_the_running_server() {
    let app = spawn_app().await;
    let (alice, secret, _) = app.signed_in_user_with_totp("alice").await;
    assert_eq!(app.get(&alice, "/api/v1/me").await.status(), 200);

    let disabled = run(&app, &["user", "disable", "alice"]);
    assert!(stdout(&disabled).is_empty());
    assert!(String::from_utf8_lossy(&disabled.stderr).contains("disabled user alice"));
    assert_error(app.get(&alice, "/api/v1/me").await, 401, "unauthenticated").await;
    assert_error(
        app.login(&client(), "alice", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        listed(&stdout(&run(&app, &["user", "list"])), "alice")[2],
        "yes"
    );

    stdout(&run(&app, &["user", "enable", "alice"]));
    app.sign_in_with_totp("alice", &secret).await;
}

#[tokio::test]
async fn break_glass_the_only_admin_lost_their_device() {
    let app = spawn_app().await;
    app.signed_in_admin_with_totp("root").await;
    // root's phone is gone: a password alone gets no session.
    let answer: Value = app
        .login(&client(), "root", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"], "second_factor_required");

    let reset = run(&app, &["user", "reset-mfa", "root"]);
    stdout(&reset);
    assert!(
        String::from_utf8_lossy(&reset.stderr).contains("removed 1 second factors"),
        "{}",
        String::from_utf8_lossy(&reset.stderr)
    );

    // root signs in with the password, must enrol a new phone, and is admin again.
    let (root, _, _) = app.first_sign_in_enrolling_totp("root").await;
    assert_eq!(app.get(&root, "/api/v1/admin/users").await.status(), 200);

    let trail: Value = app
        .get(&root, "/api/v1/admin/audit?username=root&limit=10")
        .await
        .json()
        .await
        .unwrap();
    let reset = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "mfa_reset")
        .expect("the reset is audited");
    assert!(
        reset["detail"].as_str().unwrap().contains("by=cli"),
        "{reset}"
    );
    assert_eq!(
        reset["ip"],
        Value::Null,
        "done on the host, not over the network"
    );
    assert_eq!(reset["user_agent"], "twofold-cli");
}

#[tokio::test]
async fn audit_prints_the_trail_newest_first_filtered_and_limited() {
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    app.post(
        &root,
        "/api/v1/admin/users",
        json!({"username": "alice", "password": PASSWORD}),
    )
    .await;
    stdout(&run(&app, &["user", "disable", "alice"]));
    stdout(&run(&app, &["user", "enable", "alice"]));

    let trail = stdout(&run(&app, &["audit", "--user", "alice", "--limit", "2"]));
    let lines: Vec<&str> = trail.lines().collect();
    assert_eq!(lines.len(), 3, "{trail}");
    assert!(lines[0].starts_with("AT "), "{trail}");
    assert!(
        lines[1].contains("user_enabled") && lines[1].contains("by=cli"),
        "{trail}"
    );
    assert!(
        lines[2].contains("user_disabled") && lines[2].contains("host"),
        "{trail}"
    );

    let everything = stdout(&run(&app, &["audit"]));
    assert!(everything.contains("user_created"), "{everything}");
    assert!(everything.contains("admin=false by=root"), "{everything}");
    assert!(everything.contains("127.0.0.1"), "{everything}");
    assert!(everything.contains("root"), "{everything}");

    let refused = run(&app, &["audit", "--limit", "0"]);
    assert!(!refused.status.success());
}

#[tokio::test]
async fn commands_on_an_unknown_user_fail_with_a_one_line_reason() {
    let app = spawn_app().await;
    for command in ["disable", "enable", "reset-mfa"] {
        let output = run(&app, &["user", command, "nobody"]);
        assert!(!output.status.success(), "{command}");
        let reason = String::from_utf8_lossy(&output.stderr);
        assert_eq!(reason.lines().count(), 1, "{reason}");
        assert!(reason.contains("user not found"), "{reason}");
    }
}

#[tokio::test]
async fn the_credential_report_is_the_same_bytes_from_the_cli_and_the_api() {
    let app = spawn_app().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    app.signed_in_user_with_totp("alice").await;
    app.create_user("bob", false).await;
    let from_api = app
        .get(&root, "/api/v1/admin/credential-report")
        .await
        .bytes()
        .await
        .unwrap();
    let from_cli = run(&app, &["credential-report"]);
    assert_eq!(stdout(&from_cli).as_bytes(), from_api.as_ref());
    assert_eq!(from_api.iter().filter(|b| **b == b'\n').count(), 4);
}
