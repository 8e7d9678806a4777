//! Hardware TOTP tokens whose clocks drift: enrolment finds a drifted token by
//! two consecutive codes, and `POST /api/v1/me/devices/{id}/resync` finds it
//! again later, so sign-in works once more.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, assert_error, client, spawn_app, totp_code_at};
use crate::soft_key::{Key, add_key};

const VENDOR_SEED: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
const MINUTE: i64 = 60;

/// A hardware token: the vendor's seed and a clock `drift` seconds off ours.
struct Token {
    drift: i64,
}

impl Token {
    /// Two consecutive codes as a person types them: the one the token showed
    /// a moment ago, then the one it shows now.
    fn codes(&self, app: &TestApp) -> (String, String) {
        let token_time = app.now() + self.drift;
        (
            totp_code_at(VENDOR_SEED, token_time - 30),
            totp_code_at(VENDOR_SEED, token_time),
        )
    }
}

/// Enrols the token for a signed-in user (its clock right, at enrolment).
async fn enrol_token(app: &TestApp, c: &reqwest::Client) -> String {
    let enrolment: Value = app
        .post(
            c,
            "/api/v1/me/totp",
            json!({"name": "token 42", "secret": VENDOR_SEED}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = enrolment["id"].as_str().unwrap().to_owned();
    let (code, next_code) = Token { drift: 0 }.codes(app);
    let confirmed = app
        .post(
            c,
            &format!("/api/v1/me/totp/{id}/confirm"),
            json!({"code": code, "next_code": next_code}),
        )
        .await;
    assert_eq!(confirmed.status(), 200);
    id
}

/// Password, then the token's current code: the status of the second step.
async fn sign_in_with_token(app: &TestApp, username: &str, token: &Token) -> reqwest::Response {
    let c = client();
    let answer = app.login(&c, username, PASSWORD).await;
    assert_eq!(answer.status(), 200);
    let (_, code) = token.codes(app);
    app.post(&c, "/api/v1/login/totp", json!({"code": code}))
        .await
}

async fn resync(
    app: &TestApp,
    c: &reqwest::Client,
    device: &str,
    code: &str,
    next_code: &str,
) -> reqwest::Response {
    app.post(
        c,
        &format!("/api/v1/me/devices/{device}/resync"),
        json!({"code": code, "next_code": next_code}),
    )
    .await
}

#[tokio::test]
async fn a_token_running_fast_fails_at_sign_in_until_resynchronised() {
    let app = spawn_app().await;
    let (c, app_secret, _) = app.signed_in_user_with_totp("alice").await;
    let device = enrol_token(&app, &c).await;

    // Months later the token runs five minutes fast.
    app.clock.advance(90 * 24 * 3600);
    let token = Token { drift: 5 * MINUTE };
    assert_error(
        sign_in_with_token(&app, "alice", &token).await,
        401,
        "invalid_code",
    )
    .await;

    let c = app.sign_in_with_totp("alice", &app_secret).await;
    let (code, next_code) = token.codes(&app);
    let answer = resync(&app, &c, &device, &code, &next_code).await;
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["id"], device.as_str());
    assert_eq!(body["status"], "resynchronised");
    let offset = body["offset_secs"].as_i64().unwrap();
    assert_eq!(offset, 5 * MINUTE, "{body}");

    app.next_time_step();
    let answer = sign_in_with_token(&app, "alice", &token).await;
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());

    // And it keeps working as time goes by.
    app.clock.advance(3600);
    assert_eq!(
        sign_in_with_token(&app, "alice", &token).await.status(),
        200
    );

    let root = app.signed_in_admin_with_totp("root").await.0;
    let trail: Value = app
        .get(&root, "/api/v1/admin/audit?username=alice")
        .await
        .json()
        .await
        .unwrap();
    let resynced = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "device_resynced")
        .expect("the resync is audited");
    assert!(
        resynced["detail"]
            .as_str()
            .unwrap()
            .contains("device=token 42"),
        "{resynced}"
    );
}

#[tokio::test]
async fn a_token_running_slow_is_found_again_too() {
    let app = spawn_app().await;
    let (c, app_secret, _) = app.signed_in_user_with_totp("bob").await;
    let device = enrol_token(&app, &c).await;
    app.clock.advance(3600);
    let c = app.sign_in_with_totp("bob", &app_secret).await;

    let token = Token { drift: -7 * MINUTE };
    assert_error(
        sign_in_with_token(&app, "bob", &token).await,
        401,
        "invalid_code",
    )
    .await;
    let (code, next_code) = token.codes(&app);
    assert_eq!(
        resync(&app, &c, &device, &code, &next_code).await.status(),
        200
    );
    app.next_time_step();
    assert_eq!(sign_in_with_token(&app, "bob", &token).await.status(), 200);
}

#[tokio::test]
async fn an_authenticator_app_on_a_drifted_phone_can_be_resynchronised() {
    let app = spawn_app().await;
    let (c, secret, phone) = app.signed_in_user_with_totp("carol").await;
    app.clock.advance(3 * MINUTE);
    let phone_time = app.now() + 4 * MINUTE;
    let (code, next_code) = (
        totp_code_at(&secret, phone_time - 30),
        totp_code_at(&secret, phone_time),
    );
    assert_eq!(
        resync(&app, &c, &phone, &code, &next_code).await.status(),
        200
    );
    app.next_time_step();
    let s = client();
    app.login(&s, "carol", PASSWORD).await;
    let answer = app
        .post(
            &s,
            "/api/v1/login/totp",
            json!({"code": totp_code_at(&secret, app.now() + 4 * MINUTE)}),
        )
        .await;
    assert_eq!(answer.status(), 200);
}

#[tokio::test]
async fn resync_refuses_codes_that_are_not_consecutive_or_too_far_off() {
    let app = spawn_app().await;
    let (c, _, _) = app.signed_in_user_with_totp("dave").await;
    let device = enrol_token(&app, &c).await;
    app.clock.advance(20 * MINUTE);
    let now = app.now();
    let at = |t: i64| totp_code_at(VENDOR_SEED, t);

    for (code, next_code) in [
        (at(now), at(now + 90)),
        (at(now + 30), at(now)),
        (at(now + 15 * MINUTE), at(now + 15 * MINUTE + 30)),
        (at(now - 15 * MINUTE), at(now - 15 * MINUTE + 30)),
        ("12345".into(), "abcdef".into()),
    ] {
        assert_error(
            resync(&app, &c, &device, &code, &next_code).await,
            400,
            "invalid_code",
        )
        .await;
    }
    let path = format!("/api/v1/me/devices/{device}/resync");
    for body in [
        json!({"code": at(now)}),
        json!({}),
        json!({"code": 123456, "next_code": 654321}),
    ] {
        assert_error(app.post(&c, &path, body).await, 400, "invalid_request").await;
    }
}

#[tokio::test]
async fn codes_already_used_cannot_resync_again() {
    let app = spawn_app().await;
    let (c, _, _) = app.signed_in_user_with_totp("erin").await;
    let device = enrol_token(&app, &c).await;
    app.clock.advance(20 * MINUTE);
    let (code, next_code) = Token { drift: 2 * MINUTE }.codes(&app);
    assert_eq!(
        resync(&app, &c, &device, &code, &next_code).await.status(),
        200
    );
    assert_error(
        resync(&app, &c, &device, &code, &next_code).await,
        400,
        "invalid_code",
    )
    .await;
}

#[tokio::test]
async fn only_the_users_own_confirmed_totp_devices_can_be_resynchronised() {
    let app = spawn_app().await;
    let (frank, _, franks_phone) = app.signed_in_user_with_totp("frank").await;
    let (grace, _, _) = app.signed_in_user_with_totp("grace").await;
    let (code, next_code) = Token { drift: 0 }.codes(&app);

    assert_error(
        resync(&app, &grace, &franks_phone, &code, &next_code).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        resync(&app, &grace, "no-such-device", &code, &next_code).await,
        404,
        "not_found",
    )
    .await;
    let unconfirmed: Value = app
        .post(&grace, "/api/v1/me/totp", json!({"name": "tablet"}))
        .await
        .json()
        .await
        .unwrap();
    assert_error(
        resync(
            &app,
            &grace,
            unconfirmed["id"].as_str().unwrap(),
            &code,
            &next_code,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let key = add_key(&app, &frank, &mut Key::new(), "YubiKey").await;
    assert_error(
        resync(&app, &frank, &key, &code, &next_code).await,
        400,
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn resync_needs_a_session() {
    let app = spawn_app().await;
    let (_, _, phone) = app.signed_in_user_with_totp("heidi").await;
    let pending = client();
    app.login(&pending, "heidi", PASSWORD).await;
    for c in [&client(), &pending] {
        assert_error(
            resync(&app, c, &phone, "123456", "234567").await,
            401,
            "unauthenticated",
        )
        .await;
    }
}

#[tokio::test]
async fn a_token_enrolled_with_a_drifted_clock_signs_in_at_once() {
    let app = spawn_app().await;
    let (c, _, _) = app.signed_in_user_with_totp("ivan").await;
    let token = Token { drift: 4 * MINUTE };
    let enrolment: Value = app
        .post(
            &c,
            "/api/v1/me/totp",
            json!({"name": "token", "secret": VENDOR_SEED}),
        )
        .await
        .json()
        .await
        .unwrap();
    let confirm = format!(
        "/api/v1/me/totp/{}/confirm",
        enrolment["id"].as_str().unwrap()
    );
    let (code, next_code) = Token { drift: 12 * MINUTE }.codes(&app);
    assert_error(
        app.post(&c, &confirm, json!({"code": code, "next_code": next_code}))
            .await,
        400,
        "invalid_code",
    )
    .await;
    let (code, next_code) = token.codes(&app);
    assert_eq!(
        app.post(&c, &confirm, json!({"code": code, "next_code": next_code}))
            .await
            .status(),
        200
    );
    app.next_time_step();
    assert_eq!(sign_in_with_token(&app, "ivan", &token).await.status(), 200);
}

#[tokio::test]
async fn wrong_pairs_count_against_the_device_like_wrong_codes_at_login() {
    let app = spawn_app().await;
    let (c, _, _) = app.signed_in_user_with_totp("judy").await;
    let device = enrol_token(&app, &c).await;
    app.clock.advance(20 * MINUTE);
    let now = app.now();
    let at = |t: i64| totp_code_at(VENDOR_SEED, t);

    // Five wrong codes at login, then five wrong pairs here: ten for the
    // token, the per-device limit.
    let login = client();
    app.login(&login, "judy", PASSWORD).await;
    for _ in 0..5 {
        let answer = app
            .post(&login, "/api/v1/login/totp", json!({"code": at(now + 600)}))
            .await;
        assert_error(answer, 401, "invalid_code").await;
    }
    for _ in 0..5 {
        let answer = resync(&app, &c, &device, &at(now + 60), &at(now)).await;
        assert_error(answer, 400, "invalid_code").await;
    }

    // Now even the right pair waits, and so does a sign-in with the token.
    let (code, next_code) = Token { drift: 0 }.codes(&app);
    let refused = resync(&app, &c, &device, &code, &next_code).await;
    let wait: i64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_error(refused, 429, "too_many_attempts").await;
    assert_error(
        sign_in_with_token(&app, "judy", &Token { drift: 0 }).await,
        429,
        "too_many_attempts",
    )
    .await;
    let root = app.signed_in_admin_with_totp("root").await.0;
    let trail: Value = app
        .get(&root, "/api/v1/admin/audit?username=judy&limit=5")
        .await
        .json()
        .await
        .unwrap();
    // Both refusals fall in one lockout of the device: one row counts them.
    let throttled: Vec<&Value> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "login_throttled")
        .collect();
    assert_eq!(throttled.len(), 1, "{trail}");
    let detail = throttled[0]["detail"].as_str().unwrap();
    assert!(detail.contains("rule=totp_device"), "{trail}");
    assert!(detail.ends_with("count=2"), "{trail}");

    // After the wait the right pair works.
    app.clock.advance(wait);
    let (code, next_code) = Token { drift: 0 }.codes(&app);
    assert_eq!(
        resync(&app, &c, &device, &code, &next_code).await.status(),
        200
    );
}
