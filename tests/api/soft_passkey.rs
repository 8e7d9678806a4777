//! A passkey in software: webauthn-authenticator-rs's SoftPasskey (which
//! signs with user verification) behind the part of an authenticator that
//! makes a credential discoverable — it remembers its credential and the
//! user handle, offers them when a request names no credential, and returns
//! the user handle with its assertion, as a platform passkey does.
#![allow(dead_code)] // Shared by test modules; not each one uses every helper.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::prelude::{
    CreationChallengeResponse, RequestChallengeResponse, Url, WebauthnCError,
};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs_proto::{AllowCredentials, UserVerificationPolicy};

use crate::helpers::{TestApp, client};
use crate::soft_key::json_of;

pub struct Passkey {
    token: SoftPasskey,
    /// The resident credentials: (credential id, user handle).
    resident: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Passkey {
    pub fn new() -> Self {
        // `true`: the soft authenticator reports the user as verified (it
        // has no PIN of its own to ask for).
        Self {
            token: SoftPasskey::new(true),
            resident: Vec::new(),
        }
    }

    /// `navigator.credentials.create` on `origin` with the server's options.
    pub fn create(&mut self, origin: &str, options: Value) -> Result<Value, WebauthnCError> {
        let mut options: CreationChallengeResponse =
            serde_json::from_value(options).expect("standard creation options");
        let excluded = options.public_key.exclude_credentials.iter().flatten();
        if excluded
            .into_iter()
            .any(|c| self.resident.iter().any(|(id, _)| *id == c.id.to_vec()))
        {
            return Err(WebauthnCError::InvalidRegistration);
        }
        let user_handle = options.public_key.user.id.to_vec();
        // This wrapper is the resident storage: the inner soft key refuses a
        // resident-key request it cannot keep itself.
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.require_resident_key = false;
        }
        let credential = self
            .token
            .do_registration(Url::parse(origin).unwrap(), options)?;
        self.resident
            .push((credential.raw_id.to_vec(), user_handle));
        let mut value = serde_json::to_value(credential).unwrap();
        // What a browser reports for a resident key (credProps).
        value["extensions"] = json!({"credProps": {"rk": true}});
        Ok(value)
    }

    /// `navigator.credentials.get` with no allowCredentials: the passkey
    /// offers its (first) credential and returns its user handle. With
    /// `verify_user` false it signs without verifying the user.
    pub fn get_with(&mut self, origin: &str, options: Value, verify_user: bool) -> Value {
        let mut options: RequestChallengeResponse =
            serde_json::from_value(options).expect("standard request options");
        let (id, handle) = self
            .resident
            .first()
            .cloned()
            .expect("a passkey was created");
        if options.public_key.allow_credentials.is_empty() {
            options.public_key.allow_credentials = vec![AllowCredentials {
                type_: "public-key".into(),
                id: id.clone(),
                transports: None,
            }];
        }
        if !verify_user {
            options.public_key.user_verification = UserVerificationPolicy::Discouraged_DO_NOT_USE;
        }
        let assertion = self
            .token
            .do_authentication(Url::parse(origin).unwrap(), options)
            .expect("the passkey signs");
        let mut value = serde_json::to_value(assertion).unwrap();
        value["response"]["userHandle"] = json!(URL_SAFE_NO_PAD.encode(handle));
        value
    }

    pub fn get(&mut self, origin: &str, options: Value) -> Value {
        self.get_with(origin, options, true)
    }
}

/// Begins enrolling a passkey named `name`; the creation options.
pub async fn begin_passkey(app: &TestApp, c: &reqwest::Client, name: &str) -> Value {
    let answer = app
        .post(c, "/api/v1/me/passkeys/begin", json!({"name": name}))
        .await;
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
    json_of(answer).await
}

/// Enrols `passkey` as `name` for the client's account; the finish answer.
pub async fn enrol_passkey(
    app: &TestApp,
    c: &reqwest::Client,
    passkey: &mut Passkey,
    name: &str,
) -> reqwest::Response {
    let options = begin_passkey(app, c, name).await;
    let credential = passkey
        .create(&app.address, options)
        .expect("the passkey registers");
    app.post(c, "/api/v1/me/passkeys/finish", credential).await
}

/// A passwordless sign-in challenge for a fresh client: the client (holding
/// the ceremony cookie) and the options.
pub async fn passkey_challenge(app: &TestApp) -> (reqwest::Client, Value) {
    let c = client();
    let answer = app.post(&c, "/api/v1/login/passkey/begin", json!({})).await;
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
    (c, json_of(answer).await)
}

/// Signs in with `passkey` alone; the client and the answer.
pub async fn sign_in_with_passkey(
    app: &TestApp,
    passkey: &mut Passkey,
) -> (reqwest::Client, reqwest::Response) {
    let (c, options) = passkey_challenge(app).await;
    let assertion = passkey.get(&app.address, options);
    let answer = app
        .post(&c, "/api/v1/login/passkey/finish", assertion)
        .await;
    (c, answer)
}
