//! Web hardening: security headers on every answer, cross-site form posts
//! refused, and no secret in the logs.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::cli::add_user_with_cli;
use crate::helpers::{PASSWORD, assert_error, client, spawn_app, spawn_app_with, totp_code_at};
use crate::restart::{free_port, now};

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("{name} on {}", response.url()))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = spawn_app().await;
    let c = client();
    let answers = vec![
        app.get(&c, "/login").await,
        app.get(&c, "/account").await,
        app.get(&c, "/healthz").await,
        app.get(&c, "/api/v1/me").await,
        app.get(&c, "/no/such/page").await,
        app.login(&c, "nobody", "wrong").await,
        app.get(&c, "/static/style.css").await,
    ];
    for answer in &answers {
        let csp = header(answer, "content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert_eq!(header(answer, "referrer-policy"), "no-referrer");
        assert_eq!(header(answer, "x-frame-options"), "DENY");
        assert_eq!(header(answer, "x-content-type-options"), "nosniff");
    }
    // Nothing about signing in is ever cached; only the stylesheet may be.
    for answer in &answers[..6] {
        assert_eq!(
            header(answer, "cache-control"),
            "no-store",
            "{}",
            answer.url()
        );
    }
    assert!(header(&answers[6], "cache-control").contains("max-age"));
    assert!(
        answers[0]
            .headers()
            .get("strict-transport-security")
            .is_none()
    );
}

#[tokio::test]
async fn https_origins_get_strict_transport_security() {
    let app = spawn_app_with(|s| s.server.origin = "https://localhost:0".into()).await;
    let answer = app.get(&client(), "/healthz").await;
    assert!(header(&answer, "strict-transport-security").contains("max-age="));
}

#[tokio::test]
async fn pages_have_no_inline_script_or_style() {
    let app = spawn_app().await;
    let (session, _, _) = app.signed_in_user_with_totp("alice").await;
    for path in [
        "/login",
        "/account",
        "/enrol",
        "/account/password",
        "/reauthenticate",
    ] {
        let html = app.get(&session, path).await.text().await.unwrap();
        assert!(!html.contains("<script>"), "{path}");
        assert!(!html.contains(" style="), "{path}");
        assert!(!html.contains(" onclick="), "{path}");
    }
}

#[tokio::test]
async fn a_form_post_from_another_site_is_refused() {
    let app = spawn_app().await;
    app.create_user("bob", false).await;
    let form = [("username", "bob"), ("password", PASSWORD)];
    for (name, value) in [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
        ("referer", "https://evil.example/phish"),
    ] {
        let answer = client()
            .post(app.url("/login"))
            .header(name, value)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 403, "{name}: {value}");
        assert!(answer.headers().get("set-cookie").is_none());
        assert!(answer.text().await.unwrap().contains("another site"));
    }
    // From our own pages it works, whatever the browser sends.
    let own_page = format!("{}/login", app.address);
    for (name, value) in [
        ("origin", app.address.as_str()),
        ("sec-fetch-site", "same-origin"),
        ("referer", own_page.as_str()),
    ] {
        let answer = client()
            .post(app.url("/login"))
            .header(name, value)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 303, "{name}: {value}");
    }
}

#[tokio::test]
async fn an_api_call_from_another_site_is_refused_in_json() {
    let app = spawn_app().await;
    let (session, _, _) = app.signed_in_user_with_totp("carol").await;
    let answer = session
        .post(app.url("/api/v1/me/recovery-codes"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_error(answer, 403, "forbidden").await;
    // Reading is not a state change: a GET passes.
    let me = session
        .get(app.url("/api/v1/me"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
}

#[tokio::test]
async fn no_password_seed_code_or_token_appears_in_the_debug_log() {
    let data = tempfile::tempdir().unwrap();
    add_user_with_cli(data.path(), "dave");
    let port = free_port();
    let log_path = data.path().join("stderr.log");
    let mut server = Command::new(env!("CARGO_BIN_EXE_twofold"))
        .arg("serve")
        .envs(crate::helpers::store_env(data.path()))
        .env("TWOFOLD_SERVER_LISTEN", format!("127.0.0.1:{port}"))
        .env("TWOFOLD_SERVER_ORIGIN", format!("http://localhost:{port}"))
        .env("TWOFOLD_LOG_LEVEL", "debug")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let url = |path: &str| format!("http://localhost:{port}{path}");
    let mut up = false;
    for _ in 0..200 {
        if let Ok(answer) = reqwest::get(url("/healthz")).await
            && answer.status() == 200
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the server started");

    let c = client();
    let post = |path: &str, body: Value| c.post(url(path)).json(&body).send();
    post(
        "/api/v1/login",
        json!({"username": "dave", "password": PASSWORD}),
    )
    .await
    .unwrap();
    let enrolment: Value = post("/api/v1/me/totp", json!({}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = enrolment["secret"].as_str().unwrap().to_owned();
    let confirm = format!(
        "/api/v1/me/totp/{}/confirm",
        enrolment["id"].as_str().unwrap()
    );
    let confirmed = post(&confirm, json!({"code": totp_code_at(&secret, now())}))
        .await
        .unwrap();
    let mut tokens: Vec<String> = confirmed
        .cookies()
        .map(|cookie| cookie.value().to_owned())
        .collect();
    let codes: Value = post("/api/v1/me/recovery-codes", json!({}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_password = "purple umbrellas dance quietly";
    let changed = post(
        "/api/v1/me/password",
        json!({"current_password": PASSWORD, "new_password": new_password}),
    )
    .await
    .unwrap();
    assert_eq!(changed.status(), 204);
    let other = client();
    let pending = other
        .post(url("/api/v1/login"))
        .json(&json!({"username": "dave", "password": new_password}))
        .send()
        .await
        .unwrap();
    tokens.extend(pending.cookies().map(|cookie| cookie.value().to_owned()));
    let recovery = codes["codes"][0].as_str().unwrap().to_owned();
    let signed_in = other
        .post(url("/api/v1/login/recovery-code"))
        .json(&json!({"code": recovery}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    tokens.extend(signed_in.cookies().map(|cookie| cookie.value().to_owned()));

    server.kill().unwrap();
    server.wait().unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("login_second_factor_ok"),
        "the log was written: {log}"
    );
    let key = std::fs::read_to_string(data.path().join("secret.key")).unwrap();
    let mut secrets = vec![
        PASSWORD.to_owned(),
        new_password.to_owned(),
        secret,
        recovery.clone(),
        recovery.replace('-', ""),
        key.trim().to_owned(),
    ];
    secrets.extend(tokens.into_iter().filter(|t| t.len() > 20));
    for secret in secrets {
        assert!(!log.contains(&secret), "{secret} is in the log");
    }
}
