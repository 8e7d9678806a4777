//! PostgreSQL that can't be reached, refuses the login, holds a newer schema,
//! or goes away while serving: `serve` refuses to start with one line, and a
//! running server answers 503 `unavailable` until the database is back, then
//! recovers by itself. Run in the `TEST_STORE=postgres` pass of the suite.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{TestStore, assert_error, postgres_database_for, spawn_app, store_env};

fn on_postgres() -> bool {
    let yes = TestStore::current() == TestStore::Postgres;
    if !yes {
        eprintln!("skipped on SQLite: this is about a PostgreSQL server");
    }
    yes
}

/// Runs `twofold serve` on `url` and expects it to exit non-zero within 30 s;
/// returns what it printed on stderr.
fn serve_refused(data: &std::path::Path, url: &str) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_twofold"))
        .arg("serve")
        .envs(store_env(data))
        .env("TWOFOLD_STORAGE_URL", url)
        .env("TWOFOLD_SERVER_LISTEN", format!("127.0.0.1:{port}"))
        .env("TWOFOLD_SERVER_ORIGIN", format!("http://localhost:{port}"))
        .env("TWOFOLD_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(!status.success(), "serve must fail");
            let output = child.wait_with_output().unwrap();
            return String::from_utf8_lossy(&output.stderr).into_owned();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    panic!("serve neither started nor exited");
}

fn assert_one_line(stderr: &str, says: &str) {
    let lines: Vec<&str> = stderr.trim().lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr:?}");
    assert!(lines[0].starts_with("twofold: "), "{stderr}");
    assert!(lines[0].contains(says), "{stderr}");
}

#[test]
fn serve_refuses_to_start_when_the_database_cannot_be_reached() {
    if !on_postgres() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://twofold:twofold@127.0.0.1:{closed}/twofold");
    let stderr = serve_refused(data.path(), &url);
    assert_one_line(&stderr, "can't connect to the PostgreSQL database");
}

#[test]
fn serve_refuses_to_start_with_a_wrong_password() {
    if !on_postgres() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let mut url = url::Url::parse(&postgres_database_for(data.path())).unwrap();
    url.set_password(Some("not-the-password")).unwrap();
    let stderr = serve_refused(data.path(), url.as_str());
    assert_one_line(&stderr, "password authentication failed");
    assert!(!stderr.contains("not-the-password"), "{stderr}");
}

#[tokio::test]
async fn serve_refuses_a_schema_newer_than_the_binary() {
    if !on_postgres() {
        return;
    }
    let app = spawn_app().await;
    let url = app.settings.storage.url.0.clone();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .execute("INSERT INTO twofold_schema (version) VALUES (9999)", &[])
        .await
        .unwrap();
    let data = app.data.path().to_path_buf();
    let stderr = tokio::task::spawn_blocking(move || serve_refused(&data, &url))
        .await
        .unwrap();
    assert_one_line(&stderr, "schema version 9999, newer than this twofold");
}

/// Runs `sql` as the cluster's administrator (TEST_POSTGRES_URL).
async fn as_administrator(sql: &str) {
    let admin = std::env::var("TEST_POSTGRES_URL").unwrap();
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client.batch_execute(sql).await.unwrap();
}

#[tokio::test]
async fn a_database_that_goes_away_answers_503_and_the_server_recovers_when_it_is_back() {
    if !on_postgres() {
        return;
    }
    let app = spawn_app().await;
    let (c, _, _) = app.signed_in_user_with_totp("alice").await;
    assert_eq!(app.get(&c, "/api/v1/me").await.status(), 200);
    let database = url::Url::parse(&app.settings.storage.url.0)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();

    // The database goes away: its connections are cut and new ones refused.
    as_administrator(&format!(
        "ALTER DATABASE {database} ALLOW_CONNECTIONS false;
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}';"
    ))
    .await;
    for _ in 0..3 {
        assert_error(app.get(&c, "/api/v1/me").await, 503, "unavailable").await;
    }
    assert_eq!(app.get(&c, "/api/v1/verify").await.status(), 503);
    assert_eq!(app.get(&c, "/healthz").await.status(), 503);
    let login = app
        .login(&crate::helpers::client(), "alice", "whatever")
        .await;
    assert_error(login, 503, "unavailable").await;

    // Back: the same server, the same session, no restart.
    as_administrator(&format!("ALTER DATABASE {database} ALLOW_CONNECTIONS true")).await;
    assert_eq!(app.get(&c, "/api/v1/me").await.status(), 200);
    assert_eq!(app.get(&c, "/api/v1/verify").await.status(), 200);
    assert_eq!(app.get(&c, "/healthz").await.status(), 200);
}
