//! The password policy on every path that sets a password, the password
//! change (current password needed, other sessions ended), and re-hashing a
//! stored hash made with older Argon2 parameters.

use serde_json::{Value, json};
use twofold::auth::{AuthError, Client};
use twofold::startup::build_auth;

use crate::cli::{add_user_with_cli, twofold};
use crate::helpers::{PASSWORD, assert_error, client, spawn_app, spawn_app_with};
use crate::protection_helpers::{audit_events, password_hash};

const NEW_PASSWORD: &str = "purple umbrellas dance quietly";

async fn change(
    app: &crate::helpers::TestApp,
    session: &reqwest::Client,
    current: &str,
    new: &str,
) -> reqwest::Response {
    app.post(
        session,
        "/api/v1/me/password",
        json!({"current_password": current, "new_password": new}),
    )
    .await
}

#[test]
fn user_add_refuses_a_weak_password_with_a_one_line_reason() {
    let data = tempfile::tempdir().unwrap();
    for (password, reason) in [
        ("short one", "too short"),
        ("password1234", "too easy to guess"),
        ("qwertyuiopasdfgh", "too easy to guess"),
        ("alice in wonderland again", "username"),
    ] {
        let added = twofold(
            data.path(),
            &["user", "add", "alice", "--password-stdin"],
            &format!("{password}\n"),
        );
        assert!(!added.status.success(), "{password} was accepted");
        let stderr = String::from_utf8_lossy(&added.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(reason), "{password}: {stderr}");
    }
    add_user_with_cli(data.path(), "alice");
}

#[tokio::test]
async fn the_path_the_admin_api_takes_refuses_a_weak_password_too() {
    let app = spawn_app().await;
    let refused = app
        .auth()
        .await
        .create_user(
            "bob",
            &"password1234".into(),
            false,
            Some("root"),
            &Client::cli(),
        )
        .await;
    match refused {
        Err(AuthError::WeakPassword(reason)) => assert!(reason.contains("too easy to guess")),
        other => panic!("expected a weak password refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_user_changes_their_password_and_their_other_sessions_end() {
    let app = spawn_app().await;
    let (here, secret, _) = app.signed_in_user_with_totp("carol").await;
    let elsewhere = app.sign_in_with_totp("carol", &secret).await;
    assert_eq!(app.get(&elsewhere, "/api/v1/me").await.status(), 200);

    let answer = change(&app, &here, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(answer.status(), 204);

    assert_eq!(
        app.get(&here, "/api/v1/me").await.status(),
        200,
        "this session stays"
    );
    assert_error(
        app.get(&elsewhere, "/api/v1/me").await,
        401,
        "unauthenticated",
    )
    .await;
    assert_error(
        app.login(&client(), "carol", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        app.login(&client(), "carol", NEW_PASSWORD).await.status(),
        200
    );
    assert!(
        audit_events(&app)
            .await
            .iter()
            .any(|e| e.event == "password_changed")
    );
}

#[tokio::test]
async fn a_weak_new_password_is_refused_with_the_reason_in_the_message() {
    let app = spawn_app().await;
    let (session, _, _) = app.signed_in_user_with_totp("dave").await;
    for (weak, reason) in [
        ("password1234", "too easy to guess"),
        ("tiny", "too short"),
        ("dave and his many passwords", "username"),
    ] {
        let answer = change(&app, &session, PASSWORD, weak).await;
        assert_eq!(answer.status(), 400);
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["error"], "weak_password");
        assert!(
            body["message"].as_str().unwrap().contains(reason),
            "{weak}: {body}"
        );
    }
    assert_eq!(app.login(&client(), "dave", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn a_wrong_current_password_is_refused_and_counted() {
    let app = spawn_app().await;
    let (session, _, _) = app.signed_in_user_with_totp("erin").await;
    for _ in 0..5 {
        assert_error(
            change(&app, &session, "not my password", NEW_PASSWORD).await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    // A stolen session can't be used to guess the password either.
    assert_error(
        change(&app, &session, PASSWORD, NEW_PASSWORD).await,
        429,
        "too_many_attempts",
    )
    .await;
}

#[tokio::test]
async fn changing_the_password_needs_both_fields() {
    let app = spawn_app().await;
    let (session, _, _) = app.signed_in_user_with_totp("frank").await;
    assert_error(
        app.post(
            &session,
            "/api/v1/me/password",
            json!({"new_password": NEW_PASSWORD}),
        )
        .await,
        400,
        "invalid_request",
    )
    .await;
    assert_error(
        change(&app, &client(), PASSWORD, NEW_PASSWORD).await,
        401,
        "unauthenticated",
    )
    .await;
}

#[tokio::test]
async fn the_policy_is_configurable() {
    // PASSWORD has 28 characters, NEW_PASSWORD 30.
    let app = spawn_app_with(|s| s.password.max_length = 28).await;
    let (session, _, _) = app.signed_in_user_with_totp("grace").await;
    let answer = change(&app, &session, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(answer.status(), 400);
    let body: Value = answer.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("at most 28"),
        "{body}"
    );
}

#[tokio::test]
async fn the_password_page_changes_the_password() {
    let app = spawn_app().await;
    let (session, _, _) = app.signed_in_user_with_totp("heidi").await;
    let form = app.get(&session, "/account/password").await;
    assert_eq!(form.status(), 200);
    let html = form.text().await.unwrap();
    assert!(html.contains(r#"autocomplete="new-password""#));

    let mismatch = session
        .post(app.url("/account/password"))
        .form(&[
            ("current_password", PASSWORD),
            ("new_password", NEW_PASSWORD),
            ("confirm_password", "something else entirely"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(mismatch.status(), 400);
    assert!(mismatch.text().await.unwrap().contains("differ"));

    let changed = session
        .post(app.url("/account/password"))
        .form(&[
            ("current_password", PASSWORD),
            ("new_password", NEW_PASSWORD),
            ("confirm_password", NEW_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 303);
    assert_eq!(
        changed.headers()["location"],
        "/account?notice=password_changed"
    );
    assert_eq!(
        app.login(&client(), "heidi", NEW_PASSWORD).await.status(),
        200
    );
}

#[tokio::test]
async fn a_hash_with_older_argon2_parameters_is_rehashed_at_the_next_sign_in() {
    let app = spawn_app().await;
    let mut old_settings = app.settings.clone();
    old_settings.password.argon2_memory_kib = 8 * 1024;
    old_settings.password.argon2_iterations = 1;
    build_auth(old_settings, app.clock.clone())
        .await
        .unwrap()
        .create_user("ivan", &PASSWORD.into(), false, None, &Client::cli())
        .await
        .unwrap();
    assert!(password_hash(&app, "ivan").await.contains("m=8192,t=1,p=1"));

    assert_eq!(app.login(&client(), "ivan", PASSWORD).await.status(), 200);
    let rehashed = password_hash(&app, "ivan").await;
    assert!(
        rehashed.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{rehashed}"
    );
    assert_eq!(app.login(&client(), "ivan", PASSWORD).await.status(), 200);
    assert_eq!(
        password_hash(&app, "ivan").await,
        rehashed,
        "re-hashed once only"
    );
}
