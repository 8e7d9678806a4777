//! The `twofold` binary itself, as an operator runs it.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::helpers::{PASSWORD, client, spawn_app};

pub fn twofold(data: &std::path::Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_twofold"))
        .args(args)
        .envs(crate::helpers::store_env(data))
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// `twofold user add NAME --password-stdin` with the test password, which
/// must succeed.
pub fn add_user_with_cli(data: &std::path::Path, name: &str) {
    let added = twofold(
        data,
        &["user", "add", name, "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
}

#[test]
fn user_add_creates_a_user_and_refuses_a_taken_name_or_an_empty_password() {
    let data = tempfile::tempdir().unwrap();
    let added = twofold(
        data.path(),
        &["user", "add", "alice", "--password-stdin"],
        "a long secret phrase\n",
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );

    let taken = twofold(
        data.path(),
        &["user", "add", "ALICE", "--password-stdin"],
        "another secret phrase\n",
    );
    assert!(!taken.status.success());
    let reason = String::from_utf8_lossy(&taken.stderr);
    assert_eq!(reason.lines().count(), 1, "{reason}");
    assert!(reason.contains("taken"), "{reason}");

    let empty = twofold(
        data.path(),
        &["user", "add", "bob", "--password-stdin"],
        "\n",
    );
    assert!(!empty.status.success());
    assert!(String::from_utf8_lossy(&empty.stderr).contains("empty"));

    let bad_name = twofold(
        data.path(),
        &["user", "add", "bad name", "--password-stdin"],
        "a long secret phrase\n",
    );
    assert!(!bad_name.status.success());
}

#[test]
fn the_credential_report_has_the_contract_header_and_a_row_per_user() {
    let data = tempfile::tempdir().unwrap();
    twofold(
        data.path(),
        &["user", "add", "root", "--admin", "--password-stdin"],
        "a long secret phrase\n",
    );
    twofold(
        data.path(),
        &["user", "add", "alice", "--password-stdin"],
        "a long secret phrase\n",
    );
    let report = twofold(data.path(), &["credential-report"], "");
    assert!(report.status.success());
    let text = String::from_utf8(report.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "user,user_id,user_creation_time,password_enabled,password_last_used,password_last_changed,mfa_active,totp_devices,security_keys,recovery_codes_left,admin"
    );
    assert_eq!(lines.len(), 3);
    let alice: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(alice[0], "alice");
    assert!(
        alice[2].ends_with('Z') && alice[2].len() == 20,
        "{}",
        alice[2]
    );
    assert_eq!(
        &alice[3..],
        ["true", "N/A", alice[5], "false", "0", "0", "0", "false"]
    );
    assert!(lines[2].starts_with("root,") && lines[2].ends_with(",true"));
}

#[tokio::test]
async fn the_report_follows_sign_ins_and_enrolments() {
    let app = spawn_app().await;
    let (_, _, _) = app.signed_in_user_with_totp("carol").await;
    let report = twofold(app.data.path(), &["credential-report"], "");
    let text = String::from_utf8(report.stdout).unwrap();
    let carol: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(carol[0], "carol");
    assert!(
        carol[4].ends_with('Z'),
        "password_last_used is tracked: {carol:?}"
    );
    assert_eq!(&carol[6..], ["true", "1", "0", "0", "false"]);
}

#[tokio::test]
async fn a_user_added_by_the_cli_signs_in_on_a_running_server() {
    let app = spawn_app().await;
    add_user_with_cli(app.data.path(), "dave");
    let answer = app.login(&client(), "dave", PASSWORD).await;
    assert_eq!(answer.status(), 200);
}
