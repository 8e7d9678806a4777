//! The real binary, killed with SIGKILL and started again: every acknowledged
//! write (users, devices, sessions) is still there.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::cli::add_user_with_cli;
use crate::helpers::{PASSWORD, client, totp_code_at};

pub struct Server {
    pub child: Child,
}

impl Server {
    /// SIGKILL (no shutdown, no flush), then a new server on the same data
    /// folder and port.
    pub async fn killed_and_restarted(mut self, data: &std::path::Path, port: u16) -> Server {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        drop(self);
        serve(data, port).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn serve(data: &std::path::Path, port: u16) -> Server {
    start(serve_command(data, port), port).await
}

/// `twofold serve` on `data`, listening on `port` of loopback, quiet.
pub fn serve_command(data: &std::path::Path, port: u16) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_twofold"));
    command
        .arg("serve")
        .envs(crate::helpers::store_env(data))
        .env("TWOFOLD_SERVER_LISTEN", format!("127.0.0.1:{port}"))
        .env("TWOFOLD_SERVER_ORIGIN", format!("http://localhost:{port}"))
        .env("TWOFOLD_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// Runs the binary as `command` says and waits until it serves `/healthz`
/// on `port`.
pub async fn start(mut command: Command, port: u16) -> Server {
    let server = Server {
        child: command.spawn().unwrap(),
    };
    let health = format!("http://localhost:{port}/healthz");
    for _ in 0..200 {
        if let Ok(answer) = reqwest::get(&health).await
            && answer.status() == 200
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not start");
}

/// The first sign-in of `username` (made with the CLI) on the binary at
/// `port`: the password, then an app enrolled and confirmed. Returns the
/// signed-in client and the app's base32 secret.
pub async fn first_sign_in(port: u16, username: &str) -> (reqwest::Client, String) {
    let url = |path: &str| format!("http://localhost:{port}{path}");
    let c = client();
    c.post(url("/api/v1/login"))
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let enrolment: Value = c
        .post(url("/api/v1/me/totp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = enrolment["secret"].as_str().unwrap().to_owned();
    let confirm = url(&format!(
        "/api/v1/me/totp/{}/confirm",
        enrolment["id"].as_str().unwrap()
    ));
    let answer = c
        .post(confirm)
        .json(&json!({"code": totp_code_at(&secret, now())}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    (c, secret)
}

/// The wall clock, for servers run as the real binary (no test clock).
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn users_devices_and_sessions_survive_a_kill_9() {
    let data = tempfile::tempdir().unwrap();
    add_user_with_cli(data.path(), "alice");
    let port = free_port();
    let url = |path: &str| format!("http://localhost:{port}{path}");

    let server = serve(data.path(), port).await;
    let (c, secret) = first_sign_in(port, "alice").await;
    let login = |c: &reqwest::Client| {
        c.post(url("/api/v1/login"))
            .json(&json!({"username": "alice", "password": PASSWORD}))
            .send()
    };

    let _server = server.killed_and_restarted(data.path(), port).await;

    let me: Value = c
        .get(url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "alice", "the session survived");
    assert_eq!(
        me["devices"].as_array().unwrap().len(),
        1,
        "the device survived"
    );

    let fresh = client();
    login(&fresh).await.unwrap();
    let code = totp_code_at(&secret, now() + 30);
    let answer = fresh
        .post(url("/api/v1/login/totp"))
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "the device still signs in");
}
