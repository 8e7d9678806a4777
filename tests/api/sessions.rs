use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, assert_error, client, set_cookie, spawn_app, spawn_app_with};

/// Every endpoint that needs a signed-in user, with a body it would accept.
const PROTECTED: &[(&str, &str)] = &[
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/verify"),
    ("DELETE", "/api/v1/me/devices/some-device"),
];

fn session_cookie(response: &reqwest::Response) -> String {
    set_cookie(response, "twofold_session").expect("a session cookie")
}

#[tokio::test]
async fn a_pending_login_is_not_a_session_on_any_protected_endpoint() {
    let app = spawn_app().await;
    let (_, _, device) = app.signed_in_user_with_totp("alice").await;
    let c = client();
    let answer: Value = app.login(&c, "alice", PASSWORD).await.json().await.unwrap();
    assert_eq!(answer["status"], "second_factor_required");
    for (method, path) in PROTECTED {
        assert_error(
            app.call(&c, method, path, None).await,
            401,
            "unauthenticated",
        )
        .await;
    }
    assert_error(
        app.call(&c, "DELETE", &format!("/api/v1/me/devices/{device}"), None)
            .await,
        401,
        "unauthenticated",
    )
    .await;
    // A user who has a factor must use it, not enrol another one instead.
    assert_error(
        app.post(&c, "/api/v1/me/totp", json!({})).await,
        401,
        "unauthenticated",
    )
    .await;
    assert_error(
        app.post(
            &c,
            &format!("/api/v1/me/totp/{device}/confirm"),
            json!({"code": "123456"}),
        )
        .await,
        401,
        "unauthenticated",
    )
    .await;
}

#[tokio::test]
async fn an_enrolment_pending_login_is_not_a_session_either() {
    let app = spawn_app().await;
    app.create_user("bob", false).await;
    let c = client();
    app.login(&c, "bob", PASSWORD).await;
    for (method, path) in PROTECTED {
        assert_error(
            app.call(&c, method, path, None).await,
            401,
            "unauthenticated",
        )
        .await;
    }
}

#[tokio::test]
async fn logout_revokes_the_session_on_the_server() {
    let app = spawn_app().await;
    let (_, secret, _) = app.signed_in_user_with_totp("carol").await;
    let c = client();
    app.login(&c, "carol", PASSWORD).await;
    app.next_time_step();
    let answer = app
        .post(
            &c,
            "/api/v1/login/totp",
            json!({"code": app.totp_code(&secret)}),
        )
        .await;
    let cookie = session_cookie(&answer);
    let cookie = cookie.split(';').next().unwrap().to_owned();

    let bare = client();
    let with_cookie = || {
        bare.get(app.url("/api/v1/verify"))
            .header(COOKIE, cookie.clone())
    };
    assert_eq!(with_cookie().send().await.unwrap().status(), 200);
    assert_eq!(
        c.post(app.url("/api/v1/logout"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    // The old cookie, replayed by someone who kept it, is dead.
    assert_eq!(with_cookie().send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn every_sign_in_gets_a_new_session_token() {
    let app = spawn_app().await;
    let (_, secret, _) = app.signed_in_user_with_totp("dave").await;
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let c = client();
        app.login(&c, "dave", PASSWORD).await;
        app.next_time_step();
        let answer = app
            .post(
                &c,
                "/api/v1/login/totp",
                json!({"code": app.totp_code(&secret)}),
            )
            .await;
        tokens.push(session_cookie(&answer));
    }
    assert_ne!(tokens[0], tokens[1]);
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_same_site() {
    let app = spawn_app().await;
    let (_, secret, _) = app.signed_in_user_with_totp("erin").await;
    let c = client();
    let pending = app.login(&c, "erin", PASSWORD).await;
    let pending_cookie = pending.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(pending_cookie.starts_with("twofold_pending="));
    assert!(pending_cookie.contains("Max-Age=300"), "{pending_cookie}");
    app.next_time_step();
    let answer = app
        .post(
            &c,
            "/api/v1/login/totp",
            json!({"code": app.totp_code(&secret)}),
        )
        .await;
    let cookie = session_cookie(&answer);
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain localhost gets no Secure flag: {cookie}"
    );
}

#[tokio::test]
async fn cookies_are_secure_when_the_origin_is_https() {
    let app = spawn_app_with(|s| s.server.origin = "https://localhost:0".into()).await;
    app.create_user("frank", false).await;
    let c = client();
    let answer = app.login(&c, "frank", PASSWORD).await;
    let cookie = answer.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn an_idle_session_expires() {
    let app = spawn_app().await;
    let (c, _, _) = app.signed_in_user_with_totp("grace").await;
    app.clock.advance(29 * 60);
    assert_eq!(
        app.get(&c, "/api/v1/me").await.status(),
        200,
        "still within the idle timeout"
    );
    app.clock.advance(29 * 60);
    assert_eq!(
        app.get(&c, "/api/v1/me").await.status(),
        200,
        "use extended the idle timeout"
    );
    app.clock.advance(31 * 60);
    assert_error(app.get(&c, "/api/v1/me").await, 401, "unauthenticated").await;
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_expiry_even_when_used() {
    let app = spawn_app_with(|s| s.session.absolute_timeout_secs = 2 * 3600).await;
    let (c, _, _) = app.signed_in_user_with_totp("heidi").await;
    for _ in 0..3 {
        app.clock.advance(20 * 60);
        assert_eq!(app.get(&c, "/api/v1/me").await.status(), 200);
    }
    app.clock.advance(61 * 60);
    assert_error(app.get(&c, "/api/v1/me").await, 401, "unauthenticated").await;
}

#[tokio::test]
async fn a_pending_login_expires_after_five_minutes() {
    let app = spawn_app().await;
    let (_, secret, _) = app.signed_in_user_with_totp("ivan").await;
    let c = client();
    app.login(&c, "ivan", PASSWORD).await;
    app.clock.advance(5 * 60 + 1);
    assert_error(
        app.post(
            &c,
            "/api/v1/login/totp",
            json!({"code": app.totp_code(&secret)}),
        )
        .await,
        401,
        "unauthenticated",
    )
    .await;
}

#[tokio::test]
async fn a_configured_cookie_domain_lets_sibling_hosts_receive_the_session() {
    let app = spawn_app_with(|s| s.server.cookie_domain = "example.test".into()).await;
    app.create_user("judy", false).await;
    let answer = app.login(&client(), "judy", PASSWORD).await;
    let cookie = answer.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("Domain=example.test"), "{cookie}");
}
