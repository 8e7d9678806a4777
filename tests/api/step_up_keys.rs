//! Step-up with a security key (a real WebAuthn ceremony with a software key),
//! so a user whose only factor is a key can make sensitive changes; and the
//! new session token every step-up gives, however the factor was given.

use reqwest::header::COOKIE;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, assert_error, client, set_cookie, spawn_app};
use crate::protection_helpers::{audit_events, fresh_code, make_recovery_codes, wrong_code};
use crate::soft_key::{
    Key, add_key, finish_sign_in, finish_step_up, first_sign_in_enrolling_key, flip_a_character,
    json_of, password_then_key_challenge, signed_in_user_with_key, step_up_challenge,
    step_up_with_key,
};

const NEW_PASSWORD: &str = "purple umbrellas dance quietly";
/// Past the ten-minute re-authentication window.
const ELEVEN_MINUTES: i64 = 11 * 60;

/// The session token a response sets.
fn session_token(response: &reqwest::Response) -> String {
    let cookie = set_cookie(response, "twofold_session").expect("a session cookie");
    let value = cookie["twofold_session=".len()..]
        .split(';')
        .next()
        .unwrap();
    assert!(!value.is_empty(), "{cookie}");
    value.to_owned()
}

/// A sign-in from a new client with the app's next code: the client and the
/// session token it was given.
async fn sign_in_keeping_token(
    app: &TestApp,
    username: &str,
    secret: &str,
) -> (reqwest::Client, String) {
    let c = client();
    app.login(&c, username, PASSWORD).await;
    let signed_in = app
        .post(
            &c,
            "/api/v1/login/totp",
            json!({"code": fresh_code(app, secret)}),
        )
        .await;
    assert_eq!(signed_in.status(), 200);
    let token = session_token(&signed_in);
    (c, token)
}

/// `GET /api/v1/me` with exactly this session token and no other cookie.
async fn me_with_token(app: &TestApp, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(app.url("/api/v1/me"))
        .header(COOKIE, format!("twofold_session={token}"))
        .send()
        .await
        .unwrap()
}

/// A refused key answer: 401 `invalid_assertion`.
async fn assert_refused(answer: reqwest::Response) {
    assert_error(answer, 401, "invalid_assertion").await;
}

#[tokio::test]
async fn a_user_whose_only_factor_is_a_key_steps_up_with_it() {
    let app = spawn_app().await;
    let mut key = Key::new();
    let c = signed_in_user_with_key(&app, "alice", &mut key).await;
    let spare = add_key(&app, &c, &mut Key::new(), "Spare key").await;
    app.clock.advance(ELEVEN_MINUTES);
    assert_error(
        app.post(&c, "/api/v1/me/recovery-codes", json!({})).await,
        403,
        "reauthentication_required",
    )
    .await;

    let options = step_up_challenge(&app, &c).await;
    let public_key = &options["publicKey"];
    assert_eq!(public_key["rpId"], "localhost");
    let allowed = public_key["allowCredentials"].as_array().unwrap();
    assert_eq!(allowed.len(), 2, "both of her keys");
    assert_eq!(allowed[0]["id"], key.credential_id());
    let answer = finish_step_up(&app, &c, key.get(&app.address, options)).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(json_of(answer).await, json!({"status": "reauthenticated"}));

    // Every sensitive change is open again.
    assert_eq!(make_recovery_codes(&app, &c).await.len(), 10);
    let removed = app.delete(&c, &format!("/api/v1/me/devices/{spare}")).await;
    assert_eq!(removed.status(), 204);
    let password = app
        .post(
            &c,
            "/api/v1/me/password",
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(password.status(), 204);

    let me = json_of(app.get(&c, "/api/v1/me").await).await;
    assert!(
        me["devices"][0]["last_used_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "the key's use is recorded: {me}"
    );
    let ok = audit_events(&app)
        .await
        .into_iter()
        .rfind(|e| e.event == "login_second_factor_ok")
        .unwrap();
    assert_eq!(ok.detail, "step_up method=security_key device=YubiKey");
}

#[tokio::test]
async fn a_step_up_challenge_is_answered_once_and_only_for_five_minutes() {
    let app = spawn_app().await;
    let mut key = Key::new();
    let c = signed_in_user_with_key(&app, "bob", &mut key).await;

    let options = step_up_challenge(&app, &c).await;
    let answer = key.get(&app.address, options);
    assert_eq!(finish_step_up(&app, &c, answer.clone()).await.status(), 200);
    assert_refused(finish_step_up(&app, &c, answer).await).await;

    let options = step_up_challenge(&app, &c).await;
    let late = key.get(&app.address, options);
    app.clock.advance(5 * 60 + 1);
    assert_refused(finish_step_up(&app, &c, late).await).await;
    assert_refused(
        finish_step_up(
            &app,
            &c,
            json!({
                "id": key.credential_id(),
                "rawId": key.credential_id(),
                "response": {"authenticatorData": "AA", "clientDataJSON": "AA", "signature": "AA"},
                "type": "public-key"
            }),
        )
        .await,
    )
    .await;
}

#[tokio::test]
async fn a_step_up_writes_the_keys_counter_so_a_clone_is_refused_afterwards() {
    let app = spawn_app().await;
    let mut key = Key::new();
    let c = signed_in_user_with_key(&app, "carol", &mut key).await;
    let mut clone = key.copy();

    assert_eq!(step_up_with_key(&app, &c, &mut key).await.status(), 200); // counter 1
    let (thief, options) = password_then_key_challenge(&app, "carol").await;
    let assertion = clone.get(&app.address, options); // counter 1 again
    assert_refused(finish_sign_in(&app, &thief, assertion).await).await;
    // Nor can the clone step up.
    assert_eq!(step_up_with_key(&app, &c, &mut key).await.status(), 200); // counter 2
    assert_refused(step_up_with_key(&app, &c, &mut clone).await).await; // counter 2 again
    assert_eq!(step_up_with_key(&app, &c, &mut key).await.status(), 200);
}

#[tokio::test]
async fn wrong_key_answers_and_wrong_codes_share_the_step_up_limit() {
    let app = spawn_app().await;
    let (c, secret, _) = app.signed_in_user_with_totp("dave").await;
    let mut key = Key::new();
    add_key(&app, &c, &mut key, "Key").await;

    let code = fresh_code(&app, &secret);
    for _ in 0..3 {
        assert_error(
            app.post(
                &c,
                "/api/v1/me/reauthenticate",
                json!({"code": wrong_code(&code)}),
            )
            .await,
            401,
            "invalid_code",
        )
        .await;
    }
    for _ in 0..2 {
        let options = step_up_challenge(&app, &c).await;
        let mut assertion = key.get(&app.address, options);
        let signature = assertion["response"]["signature"].as_str().unwrap();
        assertion["response"]["signature"] = json!(flip_a_character(signature, 20));
        assert_refused(finish_step_up(&app, &c, assertion).await).await;
    }
    let refused = step_up_with_key(&app, &c, &mut key).await;
    assert!(refused.headers().contains_key("retry-after"));
    assert_error(refused, 429, "too_many_attempts").await;

    let failures: Vec<String> = audit_events(&app)
        .await
        .into_iter()
        .filter(|e| e.event == "login_second_factor_failed")
        .map(|e| e.detail)
        .collect();
    assert_eq!(failures.len(), 5, "{failures:?}");
    assert!(
        failures[4].starts_with("step_up method=security_key refused: "),
        "{failures:?}"
    );
}

#[tokio::test]
async fn a_login_challenge_and_a_step_up_challenge_are_not_interchangeable() {
    let app = spawn_app().await;
    let mut key = Key::new();
    let c = signed_in_user_with_key(&app, "erin", &mut key).await;

    // The answer to a login's challenge is no step-up of a session…
    let (pending, options) = password_then_key_challenge(&app, "erin").await;
    let login_answer = key.get(&app.address, options);
    step_up_challenge(&app, &c).await;
    assert_refused(finish_step_up(&app, &c, login_answer.clone()).await).await;
    // …and the answer to a session's challenge signs no one in.
    let step_up_answer = key.get(&app.address, step_up_challenge(&app, &c).await);
    assert_refused(finish_sign_in(&app, &pending, step_up_answer).await).await;
    assert_error(
        app.get(&pending, "/api/v1/me").await,
        401,
        "unauthenticated",
    )
    .await;
}

#[tokio::test]
async fn another_users_key_cannot_step_up() {
    let app = spawn_app().await;
    let (mut franks, mut graces) = (Key::new(), Key::new());
    let frank = signed_in_user_with_key(&app, "frank", &mut franks).await;
    signed_in_user_with_key(&app, "grace", &mut graces).await;

    let mut options = step_up_challenge(&app, &frank).await;
    options["publicKey"]["allowCredentials"] =
        json!([{"type": "public-key", "id": graces.credential_id()}]);
    let assertion = graces.get(&app.address, options);
    assert_refused(finish_step_up(&app, &frank, assertion).await).await;
}

#[tokio::test]
async fn a_key_step_up_needs_a_session_and_a_key() {
    let app = spawn_app().await;
    let mut key = Key::new();
    signed_in_user_with_key(&app, "heidi", &mut key).await;
    let pending = client();
    app.login(&pending, "heidi", PASSWORD).await;
    for c in [&client(), &pending] {
        assert_error(
            app.post(c, "/api/v1/me/reauthenticate/security-key/begin", json!({}))
                .await,
            401,
            "unauthenticated",
        )
        .await;
        let answer = key.get(
            &app.address,
            json!({"publicKey": {"challenge": "AAAA", "rpId": "localhost",
                                 "allowCredentials": [{"type": "public-key", "id": key.credential_id()}],
                                 "userVerification": "discouraged"}}),
        );
        assert_error(
            app.post(c, "/api/v1/me/reauthenticate/security-key/finish", answer)
                .await,
            401,
            "unauthenticated",
        )
        .await;
    }

    let (app_only, _, _) = app.signed_in_user_with_totp("ivan").await;
    assert_error(
        app.post(
            &app_only,
            "/api/v1/me/reauthenticate/security-key/begin",
            json!({}),
        )
        .await,
        400,
        "invalid_request",
    )
    .await;
    for body in [json!({}), json!({"id": "x", "rawId": "not base64!"})] {
        assert_error(
            app.post(
                &app_only,
                "/api/v1/me/reauthenticate/security-key/finish",
                body,
            )
            .await,
            400,
            "invalid_request",
        )
        .await;
    }
    for path in [
        "/api/v1/me/reauthenticate/security-key/begin",
        "/api/v1/me/reauthenticate/security-key/finish",
    ] {
        assert_error(app.get(&app_only, path).await, 405, "method_not_allowed").await;
    }
}

#[tokio::test]
async fn every_step_up_gives_the_session_a_new_token_and_ends_the_old_one() {
    let app = spawn_app().await;
    let (_, secret, _) = app.signed_in_user_with_totp("judy").await;
    let (c, first) = sign_in_keeping_token(&app, "judy", &secret).await;
    let other_device = app.sign_in_with_totp("judy", &secret).await;

    // With a code.
    let stepped_up = app
        .post(
            &c,
            "/api/v1/me/reauthenticate",
            json!({"code": fresh_code(&app, &secret)}),
        )
        .await;
    assert_eq!(stepped_up.status(), 200);
    let second = session_token(&stepped_up);
    assert_ne!(second, first);
    assert_error(me_with_token(&app, &first).await, 401, "unauthenticated").await;
    assert_eq!(me_with_token(&app, &second).await.status(), 200);

    // With a recovery code.
    let codes = make_recovery_codes(&app, &c).await;
    let stepped_up = app
        .post(
            &c,
            "/api/v1/me/reauthenticate",
            json!({"recovery_code": codes[0]}),
        )
        .await;
    assert_eq!(stepped_up.status(), 200);
    let third = session_token(&stepped_up);
    assert_error(me_with_token(&app, &second).await, 401, "unauthenticated").await;
    assert_eq!(me_with_token(&app, &third).await.status(), 200);

    // A refused step-up changes nothing.
    let refused = app
        .post(
            &c,
            "/api/v1/me/reauthenticate",
            json!({"code": wrong_code(&app.totp_code(&secret))}),
        )
        .await;
    assert_eq!(set_cookie(&refused, "twofold_session"), None);
    assert_eq!(me_with_token(&app, &third).await.status(), 200);

    // The user's other sessions are not touched.
    assert_eq!(app.get(&other_device, "/api/v1/me").await.status(), 200);
}

#[tokio::test]
async fn a_key_step_up_gives_the_session_a_new_token_too() {
    let app = spawn_app().await;
    app.create_user("ken", false).await;
    let mut key = Key::new();
    first_sign_in_enrolling_key(&app, "ken", &mut key).await;
    let (c, options) = password_then_key_challenge(&app, "ken").await;
    let signed_in = finish_sign_in(&app, &c, key.get(&app.address, options)).await;
    let before = session_token(&signed_in);

    let stepped_up = step_up_with_key(&app, &c, &mut key).await;
    assert_eq!(stepped_up.status(), 200);
    let after = session_token(&stepped_up);
    assert_ne!(after, before);
    assert_error(me_with_token(&app, &before).await, 401, "unauthenticated").await;
    let me: Value = me_with_token(&app, &after).await.json().await.unwrap();
    assert_eq!(me["username"], "ken");
    // The new token carries the fresh second factor.
    app.clock.advance(5 * 60);
    assert_eq!(make_recovery_codes(&app, &c).await.len(), 10);
}

#[tokio::test]
async fn the_step_up_page_gives_a_new_session_cookie() {
    let app = spawn_app().await;
    let (_, secret, _) = app.signed_in_user_with_totp("leo").await;
    let (c, before) = sign_in_keeping_token(&app, "leo", &secret).await;
    app.clock.advance(ELEVEN_MINUTES);

    let passed = c
        .post(app.url("/reauthenticate"))
        .form(&[
            ("code", fresh_code(&app, &secret).as_str()),
            ("next", "/account/password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(passed.status(), 303);
    assert_eq!(
        passed.headers()["location"],
        "/account/password?stepped_up=1"
    );
    let after = session_token(&passed);
    assert_ne!(after, before);
    assert_error(me_with_token(&app, &before).await, 401, "unauthenticated").await;
    assert_eq!(app.get(&c, "/account/password").await.status(), 200);
}

#[tokio::test]
async fn the_step_up_page_offers_the_factors_the_user_holds() {
    let app = spawn_app().await;
    let page = |c: reqwest::Client| {
        let url = app.url("/reauthenticate?next=/account/password");
        async move {
            let answer = c.get(url).send().await.unwrap();
            assert_eq!(answer.status(), 200);
            answer.text().await.unwrap()
        }
    };
    let key_form = r#"data-begin="/api/v1/me/reauthenticate/security-key/begin""#;
    let code_field = r#"name="code""#;

    let mut key = Key::new();
    let key_only = page(signed_in_user_with_key(&app, "mallory", &mut key).await).await;
    assert!(key_only.contains(key_form), "{key_only}");
    assert!(key_only.contains(r#"data-finish="/api/v1/me/reauthenticate/security-key/finish""#));
    assert!(
        key_only.contains(r#"data-done="/account/password?stepped_up=1""#),
        "back where the user was going"
    );
    assert!(key_only.contains(r#"src="/static/webauthn.js""#));
    assert!(!key_only.contains("<script>"), "no inline script");
    assert!(
        !key_only.contains(code_field),
        "no app code field without an app"
    );

    let (app_only, _, _) = app.signed_in_user_with_totp("niaj").await;
    let app_only = page(app_only).await;
    assert!(app_only.contains(code_field));
    assert!(!app_only.contains(key_form));

    let (both, _, _) = app.signed_in_user_with_totp("olivia").await;
    add_key(&app, &both, &mut Key::new(), "Key").await;
    let both = page(both).await;
    assert!(both.contains(code_field) && both.contains(key_form));

    // A foreign `next` is not carried into the script's destination.
    let (c, _, _) = app.signed_in_user_with_totp("peggy").await;
    add_key(&app, &c, &mut Key::new(), "Key").await;
    let html = c
        .get(app.url("/reauthenticate?next=//evil.example/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(r#"data-done="/account?stepped_up=1""#),
        "{html}"
    );
}
