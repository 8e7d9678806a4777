//! Passkeys over real HTTP with a software passkey (discoverable, user
//! verified) doing real WebAuthn ceremonies: enrolment, the passwordless
//! sign-in where the credential names its user, every refusal, the model
//! rule, step-up, and the switch that turns passkeys off.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, assert_error, client, spawn_app, spawn_app_with};
use crate::security_keys::audit_of;
use crate::soft_key::{Key, begin_registration, json_of, signed_in_user_with_key};
use crate::soft_passkey::{
    Passkey, begin_passkey, enrol_passkey, passkey_challenge, sign_in_with_passkey,
};

/// A new user whose first login enrols `passkey`; the client holds a session.
pub async fn user_with_passkey(
    app: &TestApp,
    username: &str,
    passkey: &mut Passkey,
) -> reqwest::Client {
    app.create_user(username, false).await;
    let c = client();
    let answer = json_of(app.login(&c, username, PASSWORD).await).await;
    assert_eq!(answer["status"], "enrolment_required");
    let answer = enrol_passkey(app, &c, passkey, "Laptop").await;
    assert_eq!(answer.status(), 201, "{}", answer.text().await.unwrap());
    c
}

async fn me(app: &TestApp, c: &reqwest::Client) -> Value {
    let answer = app.get(c, "/api/v1/me").await;
    assert_eq!(answer.status(), 200);
    json_of(answer).await
}

#[tokio::test]
async fn enrolment_asks_for_a_discoverable_credential_and_user_verification() {
    let app = spawn_app().await;
    app.create_user("alice", false).await;
    let c = client();
    app.login(&c, "alice", PASSWORD).await;
    let options = begin_passkey(&app, &c, "Phone").await;
    let selection = &options["publicKey"]["authenticatorSelection"];
    assert_eq!(selection["residentKey"], "required", "{options}");
    assert_eq!(selection["requireResidentKey"], true);
    assert_eq!(selection["userVerification"], "required");
}

#[tokio::test]
async fn a_first_login_passkey_signs_in_and_is_listed_as_a_passkey_device() {
    let app = spawn_app().await;
    let mut passkey = Passkey::new();
    let c = user_with_passkey(&app, "alice", &mut passkey).await;
    let me = me(&app, &c).await;
    let devices = me["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 1, "{me}");
    assert_eq!(devices[0]["kind"], "passkey");
    assert_eq!(devices[0]["name"], "Laptop");
    let audit = audit_of(&app, "alice").await;
    assert!(
        audit
            .iter()
            .any(|e| e == "device_enrolled kind=passkey device=Laptop"),
        "{audit:?}"
    );
}

#[tokio::test]
async fn a_passkey_signs_in_without_a_username_or_password() {
    let app = spawn_app().await;
    let mut passkey = Passkey::new();
    let first = user_with_passkey(&app, "alice", &mut passkey).await;
    app.post(&first, "/api/v1/logout", json!({})).await;

    let (c, options) = passkey_challenge(&app).await;
    let public_key = &options["publicKey"];
    assert!(
        public_key.get("allowCredentials").is_none() || public_key["allowCredentials"] == json!([]),
        "no credentials are named: {options}"
    );
    assert_eq!(public_key["userVerification"], "required");
    let assertion = passkey.get(&app.address, options);
    let answer = app
        .post(&c, "/api/v1/login/passkey/finish", assertion)
        .await;
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
    assert_eq!(json_of(answer).await, json!({"status": "authenticated"}));

    assert_eq!(me(&app, &c).await["username"], "alice");
    let sessions = json_of(app.get(&c, "/api/v1/me/sessions").await).await;
    let current = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .cloned()
        .unwrap();
    assert_eq!(current["method"], "passkey");
    let audit = audit_of(&app, "alice").await;
    assert!(
        audit
            .iter()
            .any(|e| e == "login_second_factor_ok method=passkey device=Laptop"),
        "{audit:?}"
    );
}

#[tokio::test]
async fn each_sign_in_writes_the_counter_back_and_an_answer_works_once() {
    let app = spawn_app().await;
    let mut passkey = Passkey::new();
    user_with_passkey(&app, "alice", &mut passkey).await;
    for _ in 0..2 {
        let (_, answer) = sign_in_with_passkey(&app, &mut passkey).await;
        assert_eq!(answer.status(), 200);
    }
    let store = app.store().await;
    let alice = store.user_by_name("alice").await.unwrap().unwrap();
    let devices = store.devices_of(alice.id).await.unwrap();
    let stored: Value = serde_json::from_str(devices[0].credential.as_deref().unwrap()).unwrap();
    assert_eq!(stored["cred"]["counter"], 2, "{stored}");
    assert!(devices[0].last_used_at.is_some());

    let (c, options) = passkey_challenge(&app).await;
    let assertion = passkey.get(&app.address, options);
    let answer = app
        .post(&c, "/api/v1/login/passkey/finish", assertion.clone())
        .await;
    assert_eq!(answer.status(), 200);
    // The same answer again, with the same ceremony cookie: the challenge is spent.
    let ceremony = crate::helpers::set_cookie(&answer, "twofold_passkey");
    assert!(ceremony.is_some_and(|c| c.contains("Max-Age=0")));
    let replay = client();
    let begun = app
        .post(&replay, "/api/v1/login/passkey/begin", json!({}))
        .await;
    assert_eq!(begun.status(), 200);
    let answer = app
        .post(&replay, "/api/v1/login/passkey/finish", assertion)
        .await;
    assert_error(answer, 401, "invalid_assertion").await;
}

#[tokio::test]
async fn a_passkey_answer_without_user_verification_is_refused() {
    let app = spawn_app().await;
    let mut passkey = Passkey::new();
    user_with_passkey(&app, "alice", &mut passkey).await;
    let (c, options) = passkey_challenge(&app).await;
    let assertion = passkey.get_with(&app.address, options, false);
    let answer = app
        .post(&c, "/api/v1/login/passkey/finish", assertion)
        .await;
    assert_error(answer, 401, "invalid_assertion").await;
    assert_error(app.get(&c, "/api/v1/me").await, 401, "unauthenticated").await;
    let audit = audit_of(&app, "alice").await;
    assert!(
        audit
            .iter()
            .any(|e| e == "login_second_factor_failed method=passkey refused: user not verified"),
        "{audit:?}"
    );
}

#[tokio::test]
async fn a_disabled_users_passkey_is_refused() {
    let app = spawn_app().await;
    let mut passkey = Passkey::new();
    user_with_passkey(&app, "alice", &mut passkey).await;
    let store = app.store().await;
    let alice = store.user_by_name("alice").await.unwrap().unwrap();
    store.set_disabled(alice.id, true).await.unwrap();
    let (c, answer) = sign_in_with_passkey(&app, &mut passkey).await;
    assert_error(answer, 401, "invalid_assertion").await;
    assert_error(app.get(&c, "/api/v1/me").await, 401, "unauthenticated").await;
}

#[tokio::test]
async fn a_credential_this_server_does_not_know_is_refused() {
    let elsewhere = spawn_app().await;
    let mut passkey = Passkey::new();
    user_with_passkey(&elsewhere, "alice", &mut passkey).await;
    let app = spawn_app().await;
    app.create_user("alice", false).await;
    let (c, options) = passkey_challenge(&app).await;
    // Answered for this server's origin, with a credential it never saw.
    let assertion = passkey.get(&app.address, options);
    let answer = app
        .post(&c, "/api/v1/login/passkey/finish", assertion)
        .await;
    assert_error(answer, 401, "invalid_assertion").await;
}

#[tokio::test]
async fn refused_passkey_sign_ins_are_throttled_per_address() {
    let app = spawn_app_with(|s| s.throttle.ip_max_failures = 3).await;
    let mut passkey = Passkey::new();
    user_with_passkey(&app, "alice", &mut passkey).await;
    for _ in 0..3 {
        let (c, options) = passkey_challenge(&app).await;
        let assertion = passkey.get_with(&app.address, options, false);
        let answer = app
            .post(&c, "/api/v1/login/passkey/finish", assertion)
            .await;
        assert_error(answer, 401, "invalid_assertion").await;
    }
    // Now even a right answer waits.
    let (_, answer) = sign_in_with_passkey(&app, &mut passkey).await;
    assert_error(answer, 429, "too_many_attempts").await;
}

#[tokio::test]
async fn a_passkey_steps_up_and_the_session_names_it() {
    let app = spawn_app().await;
    let (c, _secret, _id) = app.signed_in_user_with_totp("alice").await;
    let mut passkey = Passkey::new();
    let answer = enrol_passkey(&app, &c, &mut passkey, "Phone").await;
    assert_eq!(answer.status(), 201, "{}", answer.text().await.unwrap());
    let options = app
        .post(&c, "/api/v1/me/reauthenticate/passkey/begin", json!({}))
        .await;
    assert_eq!(options.status(), 200);
    let assertion = passkey.get(&app.address, json_of(options).await);
    let answer = app
        .post(&c, "/api/v1/me/reauthenticate/passkey/finish", assertion)
        .await;
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
    assert_eq!(json_of(answer).await["status"], "reauthenticated");
    let sessions = json_of(app.get(&c, "/api/v1/me/sessions").await).await;
    assert_eq!(sessions["sessions"][0]["method"], "passkey", "{sessions}");
}

#[tokio::test]
async fn a_passkey_counts_against_the_eight_and_the_last_factor_rule_holds() {
    let app = spawn_app().await;
    let mut first = Passkey::new();
    let c = user_with_passkey(&app, "alice", &mut first).await;
    let id = me(&app, &c).await["devices"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_error(
        app.delete(&c, &format!("/api/v1/me/devices/{id}")).await,
        409,
        "last_factor",
    )
    .await;
    for n in 2..=8 {
        let answer = enrol_passkey(&app, &c, &mut Passkey::new(), &format!("Key {n}")).await;
        assert_eq!(answer.status(), 201);
    }
    let answer = app
        .post(&c, "/api/v1/me/passkeys/begin", json!({"name": "Ninth"}))
        .await;
    assert_error(answer, 409, "too_many_devices").await;
    let answer = app.delete(&c, &format!("/api/v1/me/devices/{id}")).await;
    assert_eq!(answer.status(), 204);
}

#[tokio::test]
async fn only_allowed_models_are_enrolled_and_the_refusal_names_the_rule() {
    let app = spawn_app_with(|s| {
        s.webauthn.allowed_aaguids = vec![
            // The soft security key's model (webauthn-authenticator-rs's SoftToken).
            "0fb9bcbc-a0d4-4042-bbb0-559bc1631e28".into(),
        ]
    })
    .await;
    // The soft security key states its model: allowed.
    let mut key = Key::new();
    let c = signed_in_user_with_key(&app, "alice", &mut key).await;
    // The soft passkey states none (self attestation): refused.
    let options = begin_passkey(&app, &c, "Phone").await;
    assert_eq!(options["publicKey"]["attestation"], "direct", "{options}");
    let credential = Passkey::new().create(&app.address, options).unwrap();
    let answer = app.post(&c, "/api/v1/me/passkeys/finish", credential).await;
    assert_eq!(answer.status(), 400);
    let body = json_of(answer).await;
    assert_eq!(body["error"], "invalid_attestation");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("webauthn.allowed_aaguids"),
        "{body}"
    );
    assert_eq!(me(&app, &c).await["devices"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_security_key_of_another_model_is_refused() {
    let app = spawn_app_with(|s| {
        s.webauthn.allowed_aaguids = vec!["2fc0579f-8113-47ea-b116-bb5a8db9202a".into()]
    })
    .await;
    app.create_user("bob", false).await;
    let c = client();
    app.login(&c, "bob", PASSWORD).await;
    let options = begin_registration(&app, &c, "YubiKey").await;
    let credential = Key::new().create(&app.address, options).unwrap();
    let answer = app
        .post(&c, "/api/v1/me/security-keys/finish", credential)
        .await;
    assert_eq!(answer.status(), 400);
    let body = json_of(answer).await;
    assert_eq!(body["error"], "invalid_attestation");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("0fb9bcbc-a0d4-4042-bbb0-559bc1631e28"),
        "{body}"
    );
}

#[tokio::test]
async fn turned_off_passkeys_are_neither_offered_nor_accepted() {
    let app = spawn_app_with(|s| s.webauthn.passkeys = false).await;
    let c = client();
    assert_error(
        app.post(&c, "/api/v1/login/passkey/begin", json!({})).await,
        404,
        "not_found",
    )
    .await;
    let page = app.get(&c, "/login").await.text().await.unwrap();
    assert!(!page.contains("Sign in with a passkey"), "{page}");
    assert!(!page.contains("username webauthn"));

    let on = spawn_app().await;
    let page = on.get(&c, "/login").await.text().await.unwrap();
    assert!(page.contains("Sign in with a passkey"));
    assert!(page.contains(r#"autocomplete="username webauthn""#));
}

#[tokio::test]
async fn the_credential_report_counts_passkeys_in_its_last_column() {
    let app = spawn_app().await;
    let mut passkey = Passkey::new();
    user_with_passkey(&app, "alice", &mut passkey).await;
    let report = app.auth().await.credential_report().await.unwrap();
    let mut lines = report.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .ends_with(",admin,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used,passkeys")
    );
    let alice: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(alice[0], "alice");
    assert_eq!(
        alice[6], "true",
        "a passkey is an active second factor: {alice:?}"
    );
    assert_eq!(alice.last(), Some(&"1"), "{alice:?}");
}

#[tokio::test]
async fn one_address_begins_a_bounded_number_of_passkey_sign_ins_a_minute() {
    // Each begin stores a ceremony before anyone is known: an address that
    // keeps beginning is refused before it can fill the store.
    let app = spawn_app().await;
    let c = client();
    for _ in 0..30 {
        let answer = app.post(&c, "/api/v1/login/passkey/begin", json!({})).await;
        assert_eq!(answer.status(), 200);
    }
    let answer = app.post(&c, "/api/v1/login/passkey/begin", json!({})).await;
    let wait: i64 = answer.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_error(answer, 429, "too_many_attempts").await;
}
