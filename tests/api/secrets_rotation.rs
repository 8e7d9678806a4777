//! `twofold secrets rotate`: every sealed secret sealed again under a new key
//! in one transaction, a running server picking the new key up, and a
//! rotation killed at any point losing nothing.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use twofold::auth::secrets::{ROTATE_PAUSE_VARIABLE, SecretsKey};

use crate::cli::twofold;
use crate::helpers::{PASSWORD, TestApp, client, spawn_app};
use crate::protection_helpers::make_recovery_codes;

fn key_file(app: &TestApp) -> std::path::PathBuf {
    app.settings.key_file()
}

fn with_suffix(app: &TestApp, suffix: &str) -> std::path::PathBuf {
    let mut name = key_file(app).into_os_string();
    name.push(suffix);
    name.into()
}

fn key_text(path: &std::path::Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// The rotate command as the operator runs it, against the test's data.
fn rotate_command(app: &TestApp, pause_ms: Option<u64>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_twofold"));
    command
        .args(["secrets", "rotate"])
        .envs(crate::helpers::store_env(app.data.path()))
        .env_remove("TWOFOLD_SECRETS_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(ms) = pause_ms {
        command.env(ROTATE_PAUSE_VARIABLE, ms.to_string());
    }
    command
}

/// Every user's seed opens with the key a fresh start loads, and each is
/// the secret the user's app holds.
async fn every_seed_opens_after_a_start(app: &TestApp, secrets: &[(String, String)]) {
    let store = app.store().await;
    let key = SecretsKey::load(&app.settings, store.as_ref())
        .await
        .expect("a start opens everything");
    for (username, secret) in secrets {
        let user = store.user_by_name(username).await.unwrap().unwrap();
        let devices = store.devices_of(user.id).await.unwrap();
        let seed = key
            .open_seed(&devices[0].id, devices[0].totp_secret.as_ref().unwrap())
            .unwrap_or_else(|e| panic!("{username}'s seed: {e:#}"));
        let expected = totp_rs::Secret::try_from_base32(secret).unwrap();
        assert_eq!(seed, expected.as_ref().to_vec(), "{username}'s seed");
    }
}

/// The rows of `twofold audit` naming `event`, newest first.
fn audited(app: &TestApp, event: &str) -> Vec<String> {
    let output = twofold(app.data.path(), &["audit"], "");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter(|line| line.contains(event))
        .map(str::to_owned)
        .collect()
}

async fn users_with_apps(app: &TestApp, count: usize) -> Vec<(String, String)> {
    let mut users = Vec::new();
    for n in 0..count {
        let name = format!("user{n}");
        let (_, secret, _) = app.signed_in_user_with_totp(&name).await;
        users.push((name, secret));
    }
    users
}

#[tokio::test]
async fn after_a_rotation_app_codes_and_recovery_codes_still_sign_in() {
    let app = spawn_app().await;
    let (session, secret, _) = app.signed_in_user_with_totp("alice").await;
    let codes = make_recovery_codes(&app, &session).await;
    let before = key_text(&key_file(&app)).unwrap();

    let rotated = rotate_command(&app, None).output().unwrap();
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    assert!(String::from_utf8_lossy(&rotated.stdout).contains("Sealed 5 secrets under a new key"));
    let after = key_text(&key_file(&app)).unwrap();
    assert_ne!(after, before, "secret.key holds a new key");
    assert_eq!(
        key_text(&with_suffix(&app, ".old")).as_deref(),
        Some(before.as_str())
    );

    // The server that was running all along signs in with the app and a
    // recovery code.
    app.sign_in_with_totp("alice", &secret).await;
    let c = client();
    assert_eq!(app.login(&c, "alice", PASSWORD).await.status(), 200);
    let answer = app
        .post(&c, "/api/v1/login/recovery-code", json!({"code": codes[0]}))
        .await;
    assert_eq!(answer.status(), 200);

    // The old key opens nothing any more; the next start removes its file.
    let store = app.store().await;
    let user = store.user_by_name("alice").await.unwrap().unwrap();
    let device = &store.devices_of(user.id).await.unwrap()[0];
    let old = SecretsKey::from_bytes(&decode(&before), "the old key");
    assert!(
        old.open_seed(&device.id, device.totp_secret.as_ref().unwrap())
            .is_err()
    );
    every_seed_opens_after_a_start(&app, &[("alice".into(), secret)]).await;
    assert!(!with_suffix(&app, ".old").exists());
    assert_eq!(key_text(&key_file(&app)).unwrap(), after);
    // Who, when and what: the canary, alice's seed, the recovery-code key
    // and the two OpenID Connect signing keys made at the first start.
    let rows = audited(&app, "secrets_rotated");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let detail = format!("by=cli; resealed=5; key_file={}", key_file(&app).display());
    assert!(rows[0].contains(&detail), "{rows:?}");
    assert!(rows[0].contains("host"), "{rows:?}");
}

fn decode(text: &str) -> [u8; 32] {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap()
        .try_into()
        .unwrap()
}

#[tokio::test]
async fn sign_ins_keep_succeeding_while_the_key_rotates() {
    let app = spawn_app().await;
    let users = users_with_apps(&app, 4).await;
    let mut rotation = rotate_command(&app, Some(100)).spawn().unwrap();
    let mut signed_in = 0;
    while rotation.try_wait().unwrap().is_none() {
        for (name, secret) in &users {
            // Asserts a 200 at each step.
            app.sign_in_with_totp(name, secret).await;
            signed_in += 1;
        }
    }
    assert!(rotation.wait().unwrap().success());
    assert!(signed_in >= 4, "sign-ins ran during the rotation");
    for (name, secret) in &users {
        app.sign_in_with_totp(name, secret).await;
    }
    every_seed_opens_after_a_start(&app, &users).await;
}

#[tokio::test]
async fn a_rotation_killed_while_resealing_loses_nothing() {
    let app = spawn_app().await;
    let users = users_with_apps(&app, 6).await;
    let before = key_text(&key_file(&app)).unwrap();
    let mut rotation = rotate_command(&app, Some(300)).spawn().unwrap();
    // The re-seal of 8 values takes 2.4 s once the new key file is written:
    // kill it in the middle.
    while !with_suffix(&app, ".new").exists() {
        assert!(rotation.try_wait().unwrap().is_none());
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(900));
    assert!(rotation.try_wait().unwrap().is_none(), "still re-sealing");
    rotation.kill().unwrap(); // SIGKILL
    rotation.wait().unwrap();
    assert!(with_suffix(&app, ".new").exists());

    every_seed_opens_after_a_start(&app, &users).await;
    // It never committed: the old key stays, the new one is dropped, and
    // the trail holds no rotation.
    assert_eq!(key_text(&key_file(&app)).unwrap(), before);
    assert_eq!(audited(&app, "secrets_rotated"), Vec::<String>::new());
    assert!(!with_suffix(&app, ".new").exists());
    for (name, secret) in &users {
        app.sign_in_with_totp(name, secret).await;
    }
}

#[tokio::test]
async fn a_rotation_killed_after_committing_is_finished_by_the_next_start() {
    let app = spawn_app().await;
    let users = users_with_apps(&app, 2).await;
    let before = key_text(&key_file(&app)).unwrap();
    let mut rotation = rotate_command(&app, Some(50)).spawn().unwrap();
    // It says so once committed, then pauses before renaming the files.
    let mut stderr = BufReader::new(rotation.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("re-sealed"), "{line}");
    rotation.kill().unwrap();
    rotation.wait().unwrap();
    let adopted = key_text(&with_suffix(&app, ".new")).expect("the new key file");
    assert_eq!(key_text(&key_file(&app)).unwrap(), before);

    // The running server follows; a start finishes the renames.
    for (name, secret) in &users {
        app.sign_in_with_totp(name, secret).await;
    }
    every_seed_opens_after_a_start(&app, &users).await;
    assert_eq!(key_text(&key_file(&app)).unwrap(), adopted);
    assert!(!with_suffix(&app, ".new").exists());
    // The event was committed with the re-seal: the trail says it happened.
    let rows = audited(&app, "secrets_rotated");
    assert_eq!(rows.len(), 1, "{rows:?}");
    // Two seeds, the canary, the recovery-code key and two signing keys.
    assert!(rows[0].contains("resealed=6"), "{rows:?}");
}

#[tokio::test]
async fn a_key_given_in_the_environment_is_not_rotated() {
    let app = spawn_app().await;
    let output = twofold(app.data.path(), &["secrets", "rotate"], "");
    assert!(output.status.success(), "the key file case works");
    let key = std::fs::read_to_string(key_file(&app)).unwrap();
    let refused = rotate_command(&app, None)
        .env("TWOFOLD_SECRETS_KEY", key.trim())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("TWOFOLD_SECRETS_KEY"), "{stderr}");
    assert_eq!(std::fs::read_to_string(key_file(&app)).unwrap(), key);
    // Only the rotation that happened is in the trail.
    assert_eq!(audited(&app, "secrets_rotated").len(), 1);
}
