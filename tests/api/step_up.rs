//! Step-up: removing a device, making recovery codes and changing the
//! password need a second factor passed within the re-auth window; passing
//! one again refreshes it.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, assert_error, client, spawn_app, spawn_app_with};
use crate::protection_helpers::{fresh_code, make_recovery_codes, wrong_code};

const NEW_PASSWORD: &str = "purple umbrellas dance quietly";

#[tokio::test]
async fn sensitive_changes_are_refused_after_the_window_and_allowed_after_a_fresh_factor() {
    let app = spawn_app().await;
    let (session, secret, device) = app.signed_in_user_with_totp("alice").await;
    app.clock.advance(10 * 60 + 1);

    let codes = app
        .post(&session, "/api/v1/me/recovery-codes", json!({}))
        .await;
    assert_error(codes, 403, "reauthentication_required").await;
    let password = app
        .post(
            &session,
            "/api/v1/me/password",
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_error(password, 403, "reauthentication_required").await;
    let remove = session
        .delete(app.url(&format!("/api/v1/me/devices/{device}")))
        .send()
        .await
        .unwrap();
    assert_error(remove, 403, "reauthentication_required").await;

    let code = fresh_code(&app, &secret);
    assert_error(
        app.post(
            &session,
            "/api/v1/me/reauthenticate",
            json!({"code": wrong_code(&code)}),
        )
        .await,
        401,
        "invalid_code",
    )
    .await;
    let passed = app
        .post(&session, "/api/v1/me/reauthenticate", json!({"code": code}))
        .await;
    assert_eq!(passed.status(), 200);
    assert_eq!(
        passed.json::<Value>().await.unwrap(),
        json!({"status": "reauthenticated"})
    );

    assert_eq!(make_recovery_codes(&app, &session).await.len(), 10);
    let password = app
        .post(
            &session,
            "/api/v1/me/password",
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(password.status(), 204);
    // Past the step-up, the removal meets the next rule: never the last factor.
    let remove = session
        .delete(app.url(&format!("/api/v1/me/devices/{device}")))
        .send()
        .await
        .unwrap();
    assert_error(remove, 409, "last_factor").await;
}

#[tokio::test]
async fn a_code_used_for_step_up_cannot_be_replayed() {
    let app = spawn_app().await;
    let (session, secret, _) = app.signed_in_user_with_totp("bob").await;
    let code = fresh_code(&app, &secret);
    let first = app
        .post(&session, "/api/v1/me/reauthenticate", json!({"code": code}))
        .await;
    assert_eq!(first.status(), 200);
    assert_error(
        app.post(&session, "/api/v1/me/reauthenticate", json!({"code": code}))
            .await,
        401,
        "invalid_code",
    )
    .await;
}

#[tokio::test]
async fn a_recovery_code_also_passes_step_up_and_is_spent() {
    let app = spawn_app().await;
    let (session, _, _) = app.signed_in_user_with_totp("carol").await;
    let codes = make_recovery_codes(&app, &session).await;
    app.clock.advance(11 * 60);
    let passed = app
        .post(
            &session,
            "/api/v1/me/reauthenticate",
            json!({"recovery_code": codes[0]}),
        )
        .await;
    assert_eq!(passed.status(), 200);
    let me: Value = app.get(&session, "/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["recovery_codes_left"], 9);
    assert_error(
        app.post(
            &session,
            "/api/v1/me/reauthenticate",
            json!({"recovery_code": codes[0]}),
        )
        .await,
        401,
        "invalid_code",
    )
    .await;
}

#[tokio::test]
async fn the_window_is_configurable() {
    let app = spawn_app_with(|s| s.session.reauth_window_secs = 60).await;
    let (session, _, _) = app.signed_in_user_with_totp("dave").await;
    assert_eq!(make_recovery_codes(&app, &session).await.len(), 10);
    app.clock.advance(61);
    assert_error(
        app.post(&session, "/api/v1/me/recovery-codes", json!({}))
            .await,
        403,
        "reauthentication_required",
    )
    .await;
}

#[tokio::test]
async fn step_up_needs_a_session_and_exactly_one_factor() {
    let app = spawn_app().await;
    let (session, _, _) = app.signed_in_user_with_totp("erin").await;
    assert_error(
        app.post(
            &client(),
            "/api/v1/me/reauthenticate",
            json!({"code": "123456"}),
        )
        .await,
        401,
        "unauthenticated",
    )
    .await;
    // The pending state of a login is no session either.
    let pending = client();
    app.login(&pending, "erin", PASSWORD).await;
    assert_error(
        app.post(
            &pending,
            "/api/v1/me/reauthenticate",
            json!({"code": "123456"}),
        )
        .await,
        401,
        "unauthenticated",
    )
    .await;
    for body in [json!({}), json!({"code": "123456", "recovery_code": "x"})] {
        assert_error(
            app.post(&session, "/api/v1/me/reauthenticate", body).await,
            400,
            "invalid_request",
        )
        .await;
    }
}

#[tokio::test]
async fn wrong_step_up_answers_are_throttled() {
    let app = spawn_app().await;
    let (session, _, _) = app.signed_in_user_with_totp("frank").await;
    for _ in 0..5 {
        assert_error(
            app.post(
                &session,
                "/api/v1/me/reauthenticate",
                json!({"recovery_code": "aaaa-bbbb-cccc"}),
            )
            .await,
            401,
            "invalid_code",
        )
        .await;
    }
    assert_error(
        app.post(
            &session,
            "/api/v1/me/reauthenticate",
            json!({"recovery_code": "aaaa-bbbb-cccc"}),
        )
        .await,
        429,
        "too_many_attempts",
    )
    .await;
}

#[tokio::test]
async fn the_pages_send_the_user_through_step_up_and_back() {
    let app = spawn_app().await;
    let (session, secret, _) = app.signed_in_user_with_totp("grace").await;
    app.clock.advance(11 * 60);

    let password_page = app.get(&session, "/account/password").await;
    assert_eq!(password_page.status(), 303);
    assert_eq!(
        password_page.headers()["location"],
        "/reauthenticate?next=%2Faccount%2Fpassword"
    );
    let codes = session
        .post(app.url("/account/recovery-codes"))
        .send()
        .await
        .unwrap();
    // Back to the page of the action asked for, to press it once more.
    assert_eq!(
        codes.headers()["location"],
        "/reauthenticate?next=%2Faccount%2Frecovery-codes"
    );

    let form = app
        .get(&session, "/reauthenticate?next=/account/password")
        .await;
    assert_eq!(form.status(), 200);
    let html = form.text().await.unwrap();
    assert!(
        html.contains(r#"name="next" value="/account/password""#),
        "{html}"
    );

    let code = fresh_code(&app, &secret);
    let wrong = session
        .post(app.url("/reauthenticate"))
        .form(&[
            ("code", wrong_code(&code).as_str()),
            ("next", "/account/password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let passed = session
        .post(app.url("/reauthenticate"))
        .form(&[("code", code.as_str()), ("next", "/account/password")])
        .send()
        .await
        .unwrap();
    assert_eq!(passed.status(), 303);
    assert_eq!(
        passed.headers()["location"],
        "/account/password?stepped_up=1"
    );
    assert_eq!(app.get(&session, "/account/password").await.status(), 200);

    // A `next` pointing elsewhere is never followed.
    app.next_time_step();
    let elsewhere = session
        .post(app.url("/reauthenticate"))
        .form(&[
            ("code", app.totp_code(&secret).as_str()),
            ("next", "//evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.headers()["location"], "/account?stepped_up=1");
}
