//! A software security key (webauthn-authenticator-rs's SoftToken) and the
//! API calls that register it and sign in with it: real WebAuthn ceremonies
//! against the JSON the server sends, for every test that needs a key.
#![allow(dead_code)] // Shared by test modules; not each one uses every helper.

use serde_json::{Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::prelude::{
    CreationChallengeResponse, RequestChallengeResponse, Url, WebauthnCError,
};
use webauthn_authenticator_rs::softtoken::SoftToken;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::helpers::{PASSWORD, TestApp, client};

/// A USB security key, in software. Like a real key (and unlike SoftToken
/// alone) it refuses to register again when `excludeCredentials` names one of
/// its credentials: the browser then reports `InvalidStateError`.
pub struct Key {
    token: SoftToken,
    credential_ids: Vec<Vec<u8>>,
}

impl Key {
    pub fn new() -> Self {
        let (token, _attestation_ca) = SoftToken::new(false).expect("a software key");
        Self {
            token,
            credential_ids: Vec::new(),
        }
    }

    /// A copy with the same secrets and signature counter: a cloned key.
    pub fn copy(&self) -> Self {
        let bytes = self.token.to_cbor().unwrap();
        Self {
            token: SoftToken::from_cbor(&bytes).unwrap(),
            credential_ids: self.credential_ids.clone(),
        }
    }

    /// The base64url id of the key's first credential.
    pub fn credential_id(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.credential_ids[0])
    }

    /// `navigator.credentials.create` on `origin` with the server's options.
    pub fn create(&mut self, origin: &str, options: Value) -> Result<Value, WebauthnCError> {
        let options: CreationChallengeResponse =
            serde_json::from_value(options).expect("standard creation options");
        let excluded = options.public_key.exclude_credentials.iter().flatten();
        if excluded
            .into_iter()
            .any(|c| self.credential_ids.contains(&c.id))
        {
            return Err(WebauthnCError::InvalidRegistration);
        }
        let credential = self
            .token
            .do_registration(Url::parse(origin).unwrap(), options)?;
        self.credential_ids.push(credential.raw_id.clone());
        Ok(serde_json::to_value(credential).unwrap())
    }

    /// `navigator.credentials.get` on `origin` with the server's options.
    pub fn get(&mut self, origin: &str, options: Value) -> Value {
        let options: RequestChallengeResponse =
            serde_json::from_value(options).expect("standard request options");
        let assertion = self
            .token
            .do_authentication(Url::parse(origin).unwrap(), options)
            .expect("the key signs");
        serde_json::to_value(assertion).unwrap()
    }
}

pub async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}

/// Begins registering a key named `name`; returns the creation options.
pub async fn begin_registration(app: &TestApp, c: &reqwest::Client, name: &str) -> Value {
    let answer = app
        .post(c, "/api/v1/me/security-keys/begin", json!({"name": name}))
        .await;
    assert_eq!(answer.status(), 200);
    json_of(answer).await
}

/// Registers `key` as `name` for the client's account; the finish answer.
pub async fn register(
    app: &TestApp,
    c: &reqwest::Client,
    key: &mut Key,
    name: &str,
) -> reqwest::Response {
    let options = begin_registration(app, c, name).await;
    let credential = key
        .create(&app.address, options)
        .expect("the key registers");
    app.post(c, "/api/v1/me/security-keys/finish", credential)
        .await
}

/// A new user whose first login enrols `key`; the client holds a session.
pub async fn signed_in_user_with_key(
    app: &TestApp,
    username: &str,
    key: &mut Key,
) -> reqwest::Client {
    app.create_user(username, false).await;
    first_sign_in_enrolling_key(app, username, key).await.0
}

/// The first sign-in of an existing user with no second factor: password,
/// then register `key` as "YubiKey". The client (holding a session) and the
/// key's device id.
pub async fn first_sign_in_enrolling_key(
    app: &TestApp,
    username: &str,
    key: &mut Key,
) -> (reqwest::Client, String) {
    let c = client();
    let answer = json_of(app.login(&c, username, PASSWORD).await).await;
    assert_eq!(answer["status"], "enrolment_required");
    let answer = register(app, &c, key, "YubiKey").await;
    assert_eq!(answer.status(), 201);
    let id = json_of(answer).await["id"].as_str().unwrap().to_owned();
    (c, id)
}

/// Registers `key` for a signed-in user; the new device's id.
pub async fn add_key(app: &TestApp, c: &reqwest::Client, key: &mut Key, name: &str) -> String {
    let answer = register(app, c, key, name).await;
    assert_eq!(answer.status(), 201, "{}", answer.text().await.unwrap());
    json_of(answer).await["id"].as_str().unwrap().to_owned()
}

/// Password, then the sign-in options; returns the client and the options.
pub async fn password_then_key_challenge(
    app: &TestApp,
    username: &str,
) -> (reqwest::Client, Value) {
    let c = client();
    let answer = app.login(&c, username, PASSWORD).await;
    assert_eq!(answer.status(), 200);
    let options = app
        .post(&c, "/api/v1/login/security-key/begin", json!({}))
        .await;
    assert_eq!(options.status(), 200);
    (c, json_of(options).await)
}

pub async fn finish_sign_in(
    app: &TestApp,
    c: &reqwest::Client,
    assertion: Value,
) -> reqwest::Response {
    app.post(c, "/api/v1/login/security-key/finish", assertion)
        .await
}

/// A full sign-in: password, then the key.
pub async fn sign_in_with_key(app: &TestApp, username: &str, key: &mut Key) -> reqwest::Client {
    let (c, options) = password_then_key_challenge(app, username).await;
    let answer = finish_sign_in(app, &c, key.get(&app.address, options)).await;
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
    c
}

/// `text` with the character at `at` changed: a signature or id altered in transit.
pub fn flip_a_character(text: &str, at: usize) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// The step-up challenge for the session's keys.
pub async fn step_up_challenge(app: &TestApp, c: &reqwest::Client) -> Value {
    let options = app
        .post(c, "/api/v1/me/reauthenticate/security-key/begin", json!({}))
        .await;
    assert_eq!(options.status(), 200, "{}", options.text().await.unwrap());
    json_of(options).await
}

pub async fn finish_step_up(
    app: &TestApp,
    c: &reqwest::Client,
    assertion: Value,
) -> reqwest::Response {
    app.post(
        c,
        "/api/v1/me/reauthenticate/security-key/finish",
        assertion,
    )
    .await
}

/// A step-up with `key`: its answer to the session's challenge.
pub async fn step_up_with_key(
    app: &TestApp,
    c: &reqwest::Client,
    key: &mut Key,
) -> reqwest::Response {
    let options = step_up_challenge(app, c).await;
    finish_step_up(app, c, key.get(&app.address, options)).await
}
