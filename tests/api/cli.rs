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
        "user,user_id,user_creation_time,password_enabled,password_last_used,password_last_changed,mfa_active,totp_devices,security_keys,recovery_codes_left,admin,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used,passkeys"
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
        [
            "true", "N/A", alice[5], "false", "0", "0", "0", "false", "false", "N/A", "N/A",
            "false", "N/A", "N/A", "0"
        ]
    );
    assert!(
        lines[2].starts_with("root,") && lines[2].ends_with(",true,false,N/A,N/A,false,N/A,N/A,0")
    );
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
    assert_eq!(
        &carol[6..],
        [
            "true", "1", "0", "0", "false", "false", "N/A", "N/A", "false", "N/A", "N/A", "0"
        ]
    );
}

#[tokio::test]
async fn a_user_added_by_the_cli_signs_in_on_a_running_server() {
    let app = spawn_app().await;
    add_user_with_cli(app.data.path(), "dave");
    let answer = app.login(&client(), "dave", PASSWORD).await;
    assert_eq!(answer.status(), 200);
}

#[test]
fn user_add_reads_one_line_and_ends_its_message_with_a_line_break() {
    let data = tempfile::tempdir().unwrap();
    let added = twofold(
        data.path(),
        &["user", "add", "alice", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert!(added.status.success());
    assert_eq!(
        String::from_utf8(added.stderr).unwrap(),
        "created user alice\n"
    );

    // A person types the password and Enter; standard input stays open.
    let mut typing = Command::new(env!("CARGO_BIN_EXE_twofold"))
        .args(["user", "add", "root", "--admin", "--password-stdin"])
        .envs(crate::helpers::store_env(data.path()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut keyboard = typing.stdin.take().unwrap();
    writeln!(keyboard, "{PASSWORD}").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while typing.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "user add waits for more than the line typed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(keyboard);
    let typed = typing.wait_with_output().unwrap();
    assert!(typed.status.success());
    assert_eq!(
        String::from_utf8(typed.stderr).unwrap(),
        "created user root (admin)\n"
    );
}

#[test]
fn audit_of_an_unknown_user_is_refused_as_other_commands_refuse_it() {
    let data = tempfile::tempdir().unwrap();
    add_user_with_cli(data.path(), "alice");
    let disable = twofold(data.path(), &["user", "disable", "nobody"], "");
    let audit = twofold(data.path(), &["audit", "--user", "nobody"], "");
    assert!(!disable.status.success() && !audit.status.success());
    assert_eq!(
        String::from_utf8_lossy(&audit.stderr),
        "twofold: user not found\n"
    );
    assert_eq!(audit.stderr, disable.stderr);
    assert!(audit.stdout.is_empty(), "no table");

    // A known user in another case is found, as elsewhere.
    let known = twofold(data.path(), &["audit", "--user", "ALICE"], "");
    assert!(known.status.success());
    let table = String::from_utf8(known.stdout).unwrap();
    assert!(
        table.lines().nth(1).unwrap().contains("user_created"),
        "{table}"
    );
}

#[test]
fn the_documented_test_variable_is_the_suites_and_leaves_twofold_commands_working() {
    let variable = crate::browser::CHROMIUM_VARIABLE;
    assert!(
        !variable.starts_with("TWOFOLD_"),
        "every twofold command reads TWOFOLD_* as settings"
    );
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    assert!(
        readme.contains(&format!("`{variable}=")),
        "README documents {variable}"
    );
    assert!(
        !readme.contains("TWOFOLD_E2E"),
        "no test variable in TWOFOLD_*"
    );

    let data = tempfile::tempdir().unwrap();
    for args in [
        vec!["user", "add", "alice", "--password-stdin"],
        vec!["user", "list"],
        vec!["credential-report"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_twofold"))
            .args(&args)
            .envs(crate::helpers::store_env(data.path()))
            .env(variable, "/usr/bin/chromium")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                writeln!(child.stdin.take().unwrap(), "{PASSWORD}")?;
                child.wait_with_output()
            })
            .unwrap();
        assert!(
            output.status.success(),
            "{args:?} with {variable} set: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
