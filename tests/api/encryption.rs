//! Secrets at rest: TOTP seeds are sealed with AES-256-GCM, so the database
//! file holds no plain seed; the key file is made on first start (mode 0600)
//! and a wrong or missing key refuses to start.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use twofold::startup::Application;

use crate::cli::{add_user_with_cli, twofold};
use crate::helpers::{PASSWORD, client, spawn_app, spawn_app_with, test_settings};

/// Every byte SQLite keeps for the database: the file and its write-ahead log.
fn database_bytes(app: &crate::helpers::TestApp) -> Vec<u8> {
    let mut bytes = std::fs::read(app.database_file()).unwrap();
    if let Ok(wal) = std::fs::read(app.database_file().with_extension("db-wal")) {
        bytes.extend(wal);
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn random_key_text() -> String {
    let key: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
    base64::engine::general_purpose::STANDARD.encode(key)
}

/// Runs `twofold serve` on a free port and reports how it ended: `Ok(())`
/// when it came up healthy (then it is stopped), `Err(stderr)` when it exited.
fn serve_outcome(data: &std::path::Path, env: &[(&str, &str)]) -> Result<(), String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_twofold"));
    command
        .arg("serve")
        .envs(crate::helpers::store_env(data))
        .env("TWOFOLD_SERVER_LISTEN", format!("127.0.0.1:{port}"))
        .env("TWOFOLD_SERVER_ORIGIN", format!("http://localhost:{port}"))
        .env("TWOFOLD_LOG_LEVEL", "warn")
        .env_remove("TWOFOLD_SECRETS_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if child.try_wait().unwrap().is_some() {
            let output = child.wait_with_output().unwrap();
            return Err(String::from_utf8_lossy(&output.stderr).into_owned());
        }
        if healthy(port) {
            child.kill().unwrap();
            child.wait().unwrap();
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    panic!("the server neither started nor exited");
}

/// Whether `GET /healthz` answers 200 (the port alone may be bound before
/// the server gives up).
fn healthy(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(300)));
    if stream
        .write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
}

/// A user with an authenticator app; returns its base32 secret.
async fn enrolled(app: &crate::helpers::TestApp, username: &str) -> String {
    let (_, secret, _) = app.signed_in_user_with_totp(username).await;
    secret
}

#[tokio::test]
async fn the_database_file_holds_no_plain_totp_seed() {
    if crate::helpers::skipped_unless_sqlite("reading the database file") {
        return;
    }
    let app = spawn_app().await;
    let secret = enrolled(&app, "alice").await;
    // A second, unconfirmed enrolment is sealed as well.
    let c = client();
    app.login(&c, "alice", PASSWORD).await;
    let seed = data_encoding::BASE32_NOPAD
        .decode(secret.as_bytes())
        .unwrap();
    assert_eq!(seed.len(), 20);

    let bytes = database_bytes(&app);
    assert!(!contains(&bytes, &seed), "the raw seed is in the database");
    assert!(
        !contains(&bytes, secret.as_bytes()),
        "the base32 seed is in the database"
    );
    // The seed is there, sealed: sign-in with it works.
    let session = app.sign_in_with_totp("alice", &secret).await;
    assert_eq!(app.get(&session, "/api/v1/me").await.status(), 200);
}

#[cfg(unix)]
#[tokio::test]
async fn the_key_file_is_made_on_first_start_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let app = spawn_app().await;
    let key_file = app.data.path().join("secret.key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(&key_file).unwrap();
    let key = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap();
    assert_eq!(key.len(), 32);
}

#[tokio::test]
async fn a_wrong_key_file_refuses_to_start() {
    let app = spawn_app().await;
    enrolled(&app, "bob").await;
    std::fs::write(app.data.path().join("secret.key"), random_key_text()).unwrap();

    let stderr = serve_outcome(app.data.path(), &[]).expect_err("it must not start");
    assert!(
        stderr.contains("is not the key they were sealed with"),
        "{stderr}"
    );

    let mut settings = test_settings(app.data.path());
    settings.secrets.key_file = app.data.path().join("secret.key");
    let built = Application::build(settings).await;
    assert!(built.is_err());
}

#[tokio::test]
async fn a_missing_key_file_refuses_to_start_once_secrets_are_sealed() {
    let app = spawn_app().await;
    enrolled(&app, "carol").await;
    std::fs::remove_file(app.data.path().join("secret.key")).unwrap();
    let stderr = serve_outcome(app.data.path(), &[]).expect_err("it must not start");
    assert!(stderr.contains("secret.key is missing"), "{stderr}");
    assert!(
        !app.data.path().join("secret.key").exists(),
        "no new key replaces the lost one"
    );
}

#[tokio::test]
async fn a_malformed_key_is_a_clear_startup_error() {
    let data = tempfile::tempdir().unwrap();
    let stderr = serve_outcome(data.path(), &[("TWOFOLD_SECRETS_KEY", "c2hvcnQ=")])
        .expect_err("it must not start");
    assert!(stderr.contains("TWOFOLD_SECRETS_KEY"), "{stderr}");
    assert!(stderr.contains("32 bytes"), "{stderr}");
}

#[tokio::test]
async fn the_key_can_come_from_the_environment_instead_of_a_file() {
    let data = tempfile::tempdir().unwrap();
    let key = random_key_text();
    let added = Command::new(env!("CARGO_BIN_EXE_twofold"))
        .args(["user", "add", "dave", "--password-stdin"])
        .envs(crate::helpers::store_env(data.path()))
        .env("TWOFOLD_SECRETS_KEY", &key)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("{PASSWORD}\n").as_bytes())?;
            child.wait()
        })
        .unwrap();
    assert!(added.success());
    assert!(
        !data.path().join("secret.key").exists(),
        "no key file is made"
    );

    let app = spawn_app_with(|s| {
        s.storage.path = data.path().to_path_buf();
        s.secrets.key = twofold::config::KeyText(key.clone());
    })
    .await;
    let secret = {
        let c = client();
        app.login(&c, "dave", PASSWORD).await;
        let enrolment: Value = app
            .post(&c, "/api/v1/me/totp", json!({}))
            .await
            .json()
            .await
            .unwrap();
        enrolment["secret"].as_str().unwrap().to_owned()
    };
    if crate::helpers::TestStore::current() == crate::helpers::TestStore::Sqlite {
        assert!(!contains(&database_bytes(&app), secret.as_bytes()));
    }

    assert!(serve_outcome(data.path(), &[("TWOFOLD_SECRETS_KEY", &key)]).is_ok());
    let stderr = serve_outcome(data.path(), &[]).expect_err("without the key it must not start");
    assert!(stderr.contains("is missing"), "{stderr}");
}

#[tokio::test]
async fn seeds_stored_before_sealing_existed_are_sealed_at_the_next_start() {
    if crate::helpers::skipped_unless_sqlite("a database from before sealing") {
        return;
    }
    let app = spawn_app().await;
    let secret = enrolled(&app, "erin").await;
    let seed = data_encoding::BASE32_NOPAD
        .decode(secret.as_bytes())
        .unwrap();
    // Make the database look like one written before seeds were sealed.
    {
        let conn = rusqlite::Connection::open(app.database_file()).unwrap();
        conn.execute("UPDATE devices SET totp_secret = ?1", [&seed])
            .unwrap();
        conn.execute("DELETE FROM sealed_canary", []).unwrap();
    }
    std::fs::remove_file(app.data.path().join("secret.key")).unwrap();

    let data = app.data.path().to_path_buf();
    let upgraded = spawn_app_with(|s| s.storage.path = data).await;
    let stored: Vec<u8> = rusqlite::Connection::open(upgraded.database_file())
        .unwrap()
        .query_row("SELECT totp_secret FROM devices", [], |row| row.get(0))
        .unwrap();
    assert_ne!(stored, seed);
    assert!(!contains(&stored, &seed));
    let session = upgraded.sign_in_with_totp("erin", &secret).await;
    assert_eq!(upgraded.get(&session, "/api/v1/me").await.status(), 200);
}

#[test]
fn the_cli_uses_the_same_key_as_the_server() {
    let data = tempfile::tempdir().unwrap();
    add_user_with_cli(data.path(), "frank");
    assert!(data.path().join("secret.key").exists());
    assert!(serve_outcome(data.path(), &[]).is_ok());
    let report = twofold(data.path(), &["credential-report"], "");
    assert!(report.status.success());
}
