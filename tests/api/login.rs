use serde_json::{Value, json};

use crate::helpers::{PASSWORD, assert_error, client, spawn_app};
use crate::protection_helpers::wrong_code;

#[tokio::test]
async fn first_login_requires_enrolment_and_confirming_the_app_starts_a_session() {
    let app = spawn_app().await;
    app.create_user("alice", false).await;
    let c = client();

    let answer = app.login(&c, "alice", PASSWORD).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.json::<Value>().await.unwrap(),
        json!({"status": "enrolment_required"})
    );
    // Passing the password alone is not a session.
    assert_error(app.get(&c, "/api/v1/me").await, 401, "unauthenticated").await;

    let enrolment: Value = app
        .post(&c, "/api/v1/me/totp", json!({}))
        .await
        .json()
        .await
        .unwrap();
    let secret = enrolment["secret"].as_str().unwrap();
    let id = enrolment["id"].as_str().unwrap();
    let confirmed = app
        .post(
            &c,
            &format!("/api/v1/me/totp/{id}/confirm"),
            json!({"code": app.totp_code(secret)}),
        )
        .await;
    assert_eq!(confirmed.status(), 200);
    assert_eq!(
        confirmed.json::<Value>().await.unwrap(),
        json!({"id": id, "status": "confirmed"})
    );

    let me: Value = app.get(&c, "/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["username"], "alice");
    assert_eq!(me["admin"], false);
    assert_eq!(me["devices"][0]["kind"], "totp");
    assert_eq!(me["devices"][0]["name"], "Authenticator app");
}

#[tokio::test]
async fn the_second_login_takes_the_password_then_a_fresh_code() {
    let app = spawn_app().await;
    let (_, secret, _) = app.signed_in_user_with_totp("bob").await;

    let c = client();
    let answer: Value = app.login(&c, "bob", PASSWORD).await.json().await.unwrap();
    assert_eq!(
        answer,
        json!({"status": "second_factor_required", "methods": ["totp"]})
    );
    app.next_time_step();
    let answer = app
        .post(
            &c,
            "/api/v1/login/totp",
            json!({"code": app.totp_code(&secret)}),
        )
        .await;
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.json::<Value>().await.unwrap(),
        json!({"status": "authenticated"})
    );
    let verify = app.get(&c, "/api/v1/verify").await;
    assert_eq!(verify.status(), 200);
    assert_eq!(verify.headers()["Remote-User"], "bob");
}

#[tokio::test]
async fn a_wrong_code_is_refused_and_gives_no_session() {
    let app = spawn_app().await;
    let (_, secret, _) = app.signed_in_user_with_totp("carol").await;
    let c = client();
    app.login(&c, "carol", PASSWORD).await;
    app.next_time_step();
    let right = app.totp_code(&secret);
    let wrong = wrong_code(&right);
    assert_error(
        app.post(&c, "/api/v1/login/totp", json!({"code": wrong}))
            .await,
        401,
        "invalid_code",
    )
    .await;
    assert_error(app.get(&c, "/api/v1/me").await, 401, "unauthenticated").await;
    // The right code still works within the same pending login.
    let answer = app
        .post(&c, "/api/v1/login/totp", json!({"code": right}))
        .await;
    assert_eq!(answer.status(), 200);
}

#[tokio::test]
async fn a_code_is_accepted_only_once() {
    let app = spawn_app().await;
    let (_, secret, _) = app.signed_in_user_with_totp("dave").await;
    app.next_time_step();
    let code = app.totp_code(&secret);

    let first = client();
    app.login(&first, "dave", PASSWORD).await;
    assert_eq!(
        app.post(&first, "/api/v1/login/totp", json!({"code": code}))
            .await
            .status(),
        200
    );

    let second = client();
    app.login(&second, "dave", PASSWORD).await;
    assert_error(
        app.post(&second, "/api/v1/login/totp", json!({"code": code}))
            .await,
        401,
        "invalid_code",
    )
    .await;
}

#[tokio::test]
async fn the_confirmation_code_cannot_be_replayed_at_login() {
    let app = spawn_app().await;
    app.create_user("erin", false).await;
    let c = client();
    app.login(&c, "erin", PASSWORD).await;
    let enrolment: Value = app
        .post(&c, "/api/v1/me/totp", json!({}))
        .await
        .json()
        .await
        .unwrap();
    let secret = enrolment["secret"].as_str().unwrap();
    let code = app.totp_code(secret);
    let path = format!(
        "/api/v1/me/totp/{}/confirm",
        enrolment["id"].as_str().unwrap()
    );
    assert_eq!(
        app.post(&c, &path, json!({"code": code})).await.status(),
        200
    );

    let other = client();
    app.login(&other, "erin", PASSWORD).await;
    assert_error(
        app.post(&other, "/api/v1/login/totp", json!({"code": code}))
            .await,
        401,
        "invalid_code",
    )
    .await;
}

#[tokio::test]
async fn an_unconfirmed_device_is_never_accepted_at_login() {
    let app = spawn_app().await;
    let (session, _, _) = app.signed_in_user_with_totp("frank").await;
    let unconfirmed: Value = app
        .post(&session, "/api/v1/me/totp", json!({"name": "tablet"}))
        .await
        .json()
        .await
        .unwrap();
    let tablet_secret = unconfirmed["secret"].as_str().unwrap();

    let c = client();
    app.login(&c, "frank", PASSWORD).await;
    app.next_time_step();
    assert_error(
        app.post(
            &c,
            "/api/v1/login/totp",
            json!({"code": app.totp_code(tablet_secret)}),
        )
        .await,
        401,
        "invalid_code",
    )
    .await;
    let me: Value = app.get(&session, "/api/v1/me").await.json().await.unwrap();
    assert_eq!(
        me["devices"].as_array().unwrap().len(),
        1,
        "unconfirmed devices are not listed"
    );
}

#[tokio::test]
async fn an_unknown_user_and_a_wrong_password_get_identical_answers() {
    let app = spawn_app().await;
    app.create_user("grace", false).await;
    let wrong_password = app.login(&client(), "grace", "not the password").await;
    let unknown_user = app.login(&client(), "nobody", "not the password").await;
    assert_eq!(wrong_password.status(), 401);
    assert_eq!(unknown_user.status(), 401);
    assert!(wrong_password.headers().get("set-cookie").is_none());
    let (a, b) = (
        wrong_password.text().await.unwrap(),
        unknown_user.text().await.unwrap(),
    );
    assert_eq!(a, b);
    assert_eq!(
        serde_json::from_str::<Value>(&a).unwrap()["error"],
        "invalid_credentials"
    );
}

#[tokio::test]
async fn five_wrong_codes_void_the_pending_login() {
    let app = spawn_app().await;
    let (_, secret, _) = app.signed_in_user_with_totp("heidi").await;
    let c = client();
    app.login(&c, "heidi", PASSWORD).await;
    app.next_time_step();
    let right = app.totp_code(&secret);
    let wrong = format!("{:06}", (right.parse::<u32>().unwrap() + 7) % 1_000_000);
    for _ in 0..5 {
        assert_error(
            app.post(&c, "/api/v1/login/totp", json!({"code": wrong}))
                .await,
            401,
            "invalid_code",
        )
        .await;
    }
    // Even the right code no longer helps: the password must be given again.
    assert_error(
        app.post(&c, "/api/v1/login/totp", json!({"code": right}))
            .await,
        401,
        "unauthenticated",
    )
    .await;
    app.login(&c, "heidi", PASSWORD).await;
    assert_eq!(
        app.post(&c, "/api/v1/login/totp", json!({"code": right}))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn usernames_are_matched_without_regard_to_case() {
    let app = spawn_app().await;
    let (_, secret, _) = app.signed_in_user_with_totp("Ivan").await;
    let c = client();
    assert_eq!(app.login(&c, "ivan", PASSWORD).await.status(), 200);
    app.next_time_step();
    app.post(
        &c,
        "/api/v1/login/totp",
        json!({"code": app.totp_code(&secret)}),
    )
    .await;
    let verify = app.get(&c, "/api/v1/verify").await;
    assert_eq!(verify.headers()["Remote-User"], "Ivan");
}
