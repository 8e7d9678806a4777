//! Security keys (FIDO2 / U2F) as a second factor, through webauthn-rs's
//! security-key API: registering a key (signed in, or at first login),
//! signing in with one, and the challenge of a step-up with one. Each
//! ceremony's state stays on the server, answers once and lives at most five
//! minutes; a signature counter must grow.

use anyhow::Context;
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{
    CreationChallengeResponse, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, SecurityKey, SecurityKeyAuthentication, SecurityKeyRegistration, Url,
    Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};

use super::devices::device_name;
use super::login::SignedIn;
use super::second_factor::{Intent, Proof};
use super::session::Token;
use super::{Account, Auth, AuthError, AuthResult, Client, Enroller};
use crate::config::Settings;
use crate::store::{
    CeremonyPurpose, CeremonyRecord, DeviceKind, DeviceRecord, NewFactor, TokenHash, UserId,
    UserRecord,
};

/// How long a started registration or sign-in may wait for the key.
pub const CEREMONY_TTL_SECS: i64 = 5 * 60;

/// A key just registered; `signed_in` is set when it ended a first-login
/// enrolment and so started a session.
#[derive(Debug)]
pub struct RegisteredKey {
    pub device_id: String,
    pub name: String,
    pub signed_in: Option<SignedIn>,
}

/// A WebAuthn credential just registered, to become a device.
pub(super) struct NewWebauthnDevice {
    pub kind: DeviceKind,
    pub name: String,
    /// The webauthn-rs credential, serialised.
    pub credential: String,
    pub credential_id: Vec<u8>,
}

/// A stored security key with its webauthn-rs credential.
struct StoredKey {
    device: DeviceRecord,
    key: SecurityKey,
}

/// Why a sign-in with a key was refused: for the audit trail and the log,
/// never shown to the client (who only learns `invalid_assertion`).
#[derive(Debug)]
enum AssertionRefusal {
    /// No challenge was issued to this login, it expired, or it was used.
    NoLiveChallenge,
    /// webauthn-rs refused it: bad signature, wrong origin or challenge, a key
    /// not in allowCredentials, a counter that did not grow…
    Rejected(WebauthnError),
    /// The key was removed between the challenge and the answer.
    KeyRemoved,
    /// Another sign-in with this key already showed this counter or a higher
    /// one: two copies of the key may exist.
    CounterDidNotGrow { counter: u32 },
}

impl std::fmt::Display for AssertionRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AssertionRefusal::NoLiveChallenge => f.write_str("no live challenge"),
            AssertionRefusal::Rejected(WebauthnError::CredentialPossibleCompromise) => {
                f.write_str("signature counter did not grow")
            }
            AssertionRefusal::Rejected(WebauthnError::CredentialNotFound) => {
                f.write_str("key not registered to this user")
            }
            AssertionRefusal::Rejected(e) => write!(f, "{e}"),
            AssertionRefusal::KeyRemoved => f.write_str("key removed"),
            AssertionRefusal::CounterDidNotGrow { counter } => {
                write!(f, "signature counter {counter} did not grow")
            }
        }
    }
}

/// The WebAuthn relying party: its id is the host of `server.origin`, and only
/// that exact origin (scheme, host and port) is accepted.
pub fn relying_party(settings: &Settings) -> anyhow::Result<Webauthn> {
    let origin = Url::parse(&settings.server.origin)
        .with_context(|| format!("server.origin {:?} is not a URL", settings.server.origin))?;
    let rp_id = origin.domain().with_context(|| {
        format!(
            "server.origin {} has no domain name; WebAuthn needs one (e.g. http://localhost:8080), not an IP address",
            settings.server.origin
        )
    })?;
    let timeout = std::time::Duration::from_secs(CEREMONY_TTL_SECS.unsigned_abs());
    Ok(WebauthnBuilder::new(rp_id, &origin)
        .context("configuring the WebAuthn relying party from server.origin")?
        .rp_name(&settings.totp.issuer)
        .timeout(timeout)
        // The key is the second factor after a password: touching it (user
        // presence) is the factor, as with U2F, and no PIN is asked. The
        // library's default asks for credProtect "userVerificationRequired"
        // with userVerification "preferred", which Chromium refuses outright
        // (NotSupportedError: "Requested protection policy is inconsistent").
        .danger_set_user_presence_only_security_keys(true)
        .build()?)
}

/// The WebAuthn user handle: stable for a user, unique to them, and not
/// their name (the spec asks for no personal data in it).
pub fn user_handle(user: &UserRecord) -> Uuid {
    let digest = Sha256::new()
        .chain_update(b"twofold webauthn user handle\0")
        .chain_update(user.id.to_be_bytes())
        .chain_update(user.created_at.to_be_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// The token a ceremony belongs to: the session, or the first-login pending state.
pub(super) fn ceremony_owner(enroller: &Enroller) -> TokenHash {
    match enroller {
        Enroller::SignedIn(account) => account.session.token_hash,
        Enroller::FirstFactor { pending, .. } => pending.token_hash,
    }
}

fn unexpected(context: &'static str) -> impl FnOnce(WebauthnError) -> AuthError {
    move |e| AuthError::Unexpected(anyhow::Error::new(e).context(context))
}

impl Auth {
    pub(super) fn relying_party(&self) -> AuthResult<Webauthn> {
        Ok(relying_party(&self.settings)?)
    }

    /// The user's confirmed security keys, oldest first.
    async fn security_keys_of(&self, user: UserId) -> AuthResult<Vec<StoredKey>> {
        let mut keys = Vec::new();
        for device in self.store.devices_of(user).await? {
            if device.kind != DeviceKind::SecurityKey || !device.confirmed {
                continue;
            }
            let json = device.credential.as_deref().unwrap_or_default();
            let key = serde_json::from_str(json)
                .with_context(|| format!("reading the credential of security key {}", device.id))?;
            keys.push(StoredKey { device, key });
        }
        Ok(keys)
    }

    pub(super) async fn begin_ceremony(
        &self,
        owner_hash: TokenHash,
        purpose: CeremonyPurpose,
        user: Option<UserId>,
        device_name: Option<String>,
        state: &impl serde::Serialize,
    ) -> AuthResult<()> {
        let now = self.clock.now();
        let state = serde_json::to_string(state).context("serialising a WebAuthn state")?;
        let ceremony = CeremonyRecord {
            owner_hash,
            purpose,
            user_id: user,
            device_name,
            state,
            expires_at: now + CEREMONY_TTL_SECS,
        };
        Ok(self.store.put_ceremony(ceremony, now).await?)
    }

    /// The live ceremony of this owner, taken so it cannot be answered twice.
    pub(super) async fn take_ceremony(
        &self,
        owner_hash: TokenHash,
        purpose: CeremonyPurpose,
        user: Option<UserId>,
    ) -> AuthResult<Option<CeremonyRecord>> {
        let now = self.clock.now();
        let ceremony = self.store.take_ceremony(owner_hash, purpose, now).await?;
        Ok(ceremony.filter(|c| c.user_id == user))
    }

    /// The registration `owner` began for `user`, taken so it is answered
    /// once, with its webauthn-rs state; refused as `invalid_attestation`
    /// when there is none (or the user has no room for another device).
    pub(super) async fn take_registration<S: serde::de::DeserializeOwned>(
        &self,
        owner: TokenHash,
        user: &UserRecord,
        what: &str,
    ) -> AuthResult<(CeremonyRecord, S)> {
        let Some(ceremony) = self
            .take_ceremony(owner, CeremonyPurpose::Registration, Some(user.id))
            .await?
        else {
            tracing::info!(username = %user.username, "{what} registration refused: no live challenge");
            return Err(AuthError::InvalidAttestation);
        };
        self.ensure_room_for_device(user.id).await?;
        let state = serde_json::from_str(&ceremony.state)
            .with_context(|| format!("reading a {what} registration state"))?;
        Ok((ceremony, state))
    }

    /// Starts registering a security key: the options for
    /// `navigator.credentials.create`, listing the user's keys in
    /// `excludeCredentials` so a key is not registered twice.
    pub async fn start_security_key_registration(
        &self,
        enroller: &Enroller,
        name: &str,
    ) -> AuthResult<CreationChallengeResponse> {
        let user = enroller.user();
        let name = device_name(Some(name), "")?;
        self.ensure_room_for_device(user.id).await?;
        let registered = self.webauthn_credential_ids(user.id).await?;
        let (mut options, state) = self
            .relying_party()?
            .start_securitykey_registration(
                user_handle(user),
                &user.username,
                &user.username,
                Some(registered),
                None,
                None,
            )
            .map_err(unexpected("starting a security key registration"))?;
        self.request_attestation_if_models_restricted(&mut options);
        self.begin_ceremony(
            ceremony_owner(enroller),
            CeremonyPurpose::Registration,
            Some(user.id),
            Some(name),
            &state,
        )
        .await?;
        Ok(options)
    }

    /// Checks the key's answer to the registration challenge and adds the
    /// key. For a first-login user this starts the session.
    pub async fn finish_security_key_registration(
        &self,
        enroller: &Enroller,
        credential: &RegisterPublicKeyCredential,
        client: &Client,
    ) -> AuthResult<RegisteredKey> {
        let user = enroller.user();
        let (ceremony, state): (_, SecurityKeyRegistration) = self
            .take_registration(ceremony_owner(enroller), user, "security key")
            .await?;
        let key = self
            .relying_party()?
            .finish_securitykey_registration(credential, &state)
            .map_err(|e| {
                tracing::info!(username = %user.username, error = %e, "security key registration refused");
                AuthError::InvalidAttestation
            })?;
        self.check_model(key.attestation())?;

        let name = ceremony
            .device_name
            .unwrap_or_else(|| "Security key".to_owned());
        let stored = serde_json::to_string(&key).context("serialising a security key")?;
        let new_key = NewWebauthnDevice {
            kind: DeviceKind::SecurityKey,
            name,
            credential: stored,
            credential_id: key.cred_id().to_vec(),
        };
        self.enrol_webauthn_device(enroller, new_key, client).await
    }

    /// Adds a WebAuthn credential whose registration was accepted as a
    /// confirmed device of the enroller (a first-login enroller is then
    /// signed in), under the rules `confirm_factor` keeps.
    pub(super) async fn enrol_webauthn_device(
        &self,
        enroller: &Enroller,
        new: NewWebauthnDevice,
        client: &Client,
    ) -> AuthResult<RegisteredKey> {
        let id = uuid::Uuid::new_v4().to_string();
        let (kind, name) = (new.kind.as_str(), new.name.clone());
        let factor = NewFactor::SecurityKey(DeviceRecord {
            id: id.clone(),
            user_id: enroller.user().id,
            kind: new.kind,
            name: new.name,
            confirmed: true,
            created_at: self.clock.now(),
            last_used_at: None,
            totp_secret: None,
            totp_last_step: None,
            totp_offset_steps: 0,
            hardware: false,
            credential: Some(new.credential),
            credential_id: Some(new.credential_id),
        });
        let signed_in = self
            .confirm_factor(
                enroller,
                factor,
                client,
                &format!("kind={kind} device={name}"),
                &format!("method={kind} device={name}"),
            )
            .await?;
        Ok(RegisteredKey {
            device_id: id,
            name,
            signed_in,
        })
    }

    /// Starts the second step with a security key: the options for
    /// `navigator.credentials.get`, allowing exactly the user's keys.
    pub async fn start_security_key_login(
        &self,
        pending_token: Option<&Token>,
    ) -> AuthResult<RequestChallengeResponse> {
        let pending = self.pending_login(pending_token).await?;
        let user = self.user(pending.user_id).await?;
        self.start_key_authentication(pending.token_hash, &user)
            .await
    }

    /// Starts a step-up with a security key for a signed-in user: the options
    /// for `navigator.credentials.get`, allowing exactly the user's keys.
    pub async fn start_security_key_step_up(
        &self,
        account: &Account,
    ) -> AuthResult<RequestChallengeResponse> {
        self.start_key_authentication(account.session.token_hash, &account.user)
            .await
    }

    /// A challenge for the user's keys, kept on the server for `owner` (the
    /// pending login or the session that asked).
    async fn start_key_authentication(
        &self,
        owner: TokenHash,
        user: &UserRecord,
    ) -> AuthResult<RequestChallengeResponse> {
        let keys: Vec<SecurityKey> = self
            .security_keys_of(user.id)
            .await?
            .into_iter()
            .map(|k| k.key)
            .collect();
        if keys.is_empty() {
            return Err(AuthError::InvalidRequest(
                "this account has no security key; use another second factor".into(),
            ));
        }
        let (options, state) = self
            .relying_party()?
            .start_securitykey_authentication(&keys)
            .map_err(unexpected("starting a security key sign-in"))?;
        self.begin_ceremony(
            owner,
            CeremonyPurpose::Authentication,
            Some(user.id),
            None,
            &state,
        )
        .await?;
        Ok(options)
    }

    /// The second step with a security key's answer. A refused answer counts
    /// as a wrong second factor.
    pub async fn login_security_key(
        &self,
        pending: Option<&Token>,
        credential: &PublicKeyCredential,
        remember_browser: bool,
        client: &Client,
    ) -> AuthResult<SignedIn> {
        let intent = Intent::Login {
            pending,
            remember_browser,
        };
        self.verify_second_factor(intent, Proof::SecurityKey(credential), client)
            .await?
            .into_signed_in()
    }

    /// Checks a key's answer to the challenge `owner` began (a pending login,
    /// or a session stepping up) and logs a refusal. The key on success; else
    /// why it was refused, in words for the audit trail.
    pub(super) async fn accept_assertion(
        &self,
        owner: TokenHash,
        user: &UserRecord,
        credential: &PublicKeyCredential,
    ) -> AuthResult<Result<DeviceRecord, String>> {
        let refusal = match self.check_assertion(owner, user, credential).await? {
            Ok(device) => return Ok(Ok(device)),
            Err(refusal) => refusal,
        };
        if let AssertionRefusal::CounterDidNotGrow { .. }
        | AssertionRefusal::Rejected(WebauthnError::CredentialPossibleCompromise) = refusal
        {
            tracing::warn!(
                username = %user.username,
                ?refusal,
                "security key refused: its signature counter did not grow, so the key may have been cloned"
            );
        } else {
            tracing::info!(username = %user.username, %refusal, "security key refused");
        }
        Ok(Err(refusal.to_string()))
    }

    /// Verifies an assertion against the challenge `owner` began and writes
    /// the key's new counter and backup state back. The outer error is a
    /// failure of ours; the inner one a refusal of the client's answer.
    async fn check_assertion(
        &self,
        owner: TokenHash,
        user: &UserRecord,
        credential: &PublicKeyCredential,
    ) -> AuthResult<Result<DeviceRecord, AssertionRefusal>> {
        let Some(ceremony) = self
            .take_ceremony(owner, CeremonyPurpose::Authentication, Some(user.id))
            .await?
        else {
            return Ok(Err(AssertionRefusal::NoLiveChallenge));
        };
        let state: SecurityKeyAuthentication = serde_json::from_str(&ceremony.state)
            .context("reading a WebAuthn authentication state")?;
        let result = match self
            .relying_party()?
            .finish_securitykey_authentication(credential, &state)
        {
            Ok(result) => result,
            Err(e) => return Ok(Err(AssertionRefusal::Rejected(e))),
        };

        let Some(StoredKey { device, mut key }) = self
            .security_keys_of(user.id)
            .await?
            .into_iter()
            .find(|k| k.key.cred_id() == result.cred_id())
        else {
            return Ok(Err(AssertionRefusal::KeyRemoved));
        };
        key.update_credential(&result);
        let updated = serde_json::to_string(&key).context("serialising a security key")?;
        let written = self
            .store
            .record_security_key_use(&device.id, updated, result.counter(), self.clock.now())
            .await?;
        if !written {
            return Ok(Err(AssertionRefusal::CounterDidNotGrow {
                counter: result.counter(),
            }));
        }
        Ok(Ok(device))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn settings(origin: &str) -> Settings {
        let mut settings = Settings::default();
        settings.server.origin = origin.into();
        settings
    }

    /// A YubiKey 5's credential and its answer to a challenge, as a browser
    /// sent it to http://localhost:8080 (recorded in webauthn-rs-core's tests).
    const RECORDED_CREDENTIAL_ID: &str =
        "at-FfKGsOI21EhtCu7Vx-7t7FKkpUOyKXIkEBBD_vC-eym_AdW6Y9V8WyKxHmii11EBQEe7uFQ0bkYwb0GWmUQ";
    const RECORDED_CHALLENGE: &str = "WgXz_kTv3WUU1kw8hm-OGoGS4ZCHX_3bEqHH2PvVp8M";
    const RECORDED_ASSERTION: &str = r#"{
        "id": "at-FfKGsOI21EhtCu7Vx-7t7FKkpUOyKXIkEBBD_vC-eym_AdW6Y9V8WyKxHmii11EBQEe7uFQ0bkYwb0GWmUQ",
        "rawId": "at-FfKGsOI21EhtCu7Vx-7t7FKkpUOyKXIkEBBD_vC-eym_AdW6Y9V8WyKxHmii11EBQEe7uFQ0bkYwb0GWmUQ",
        "response": {
            "authenticatorData": "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MBAAAAFA",
            "clientDataJSON": "eyJjaGFsbGVuZ2UiOiJXZ1h6X2tUdjNXVVUxa3c4aG0tT0dvR1M0WkNIWF8zYkVxSEgyUHZWcDhNIiwiY2xpZW50RXh0ZW5zaW9ucyI6e30sImhhc2hBbGdvcml0aG0iOiJTSEEtMjU2Iiwib3JpZ2luIjoiaHR0cDovL2xvY2FsaG9zdDo4MDgwIiwidHlwZSI6IndlYmF1dGhuLmdldCJ9",
            "signature": "MEYCIQDmLVOqv85cdRup4Fr8Pf9zC4AWO-XKBJqa8xPwYFCCMAIhAOiExLoyes0xipmUmq0BVlqJaCKLn_MFKG9GIDsCGq_-",
            "userHandle": null
        },
        "type": "public-key"
    }"#;

    /// The stored form of that YubiKey's credential (public key, counter 1).
    fn recorded_key() -> SecurityKey {
        serde_json::from_value(json!({"cred": {
            "cred_id": RECORDED_CREDENTIAL_ID,
            "cred": {"type_": "ES256", "key": {"EC_EC2": {
                "curve": "SECP256R1",
                "x": [46, 121, 76, 233, 118, 208, 250, 74, 227, 182, 8, 145, 45, 46, 5, 9, 199,
                      186, 84, 83, 7, 237, 130, 73, 16, 90, 17, 54, 33, 255, 54, 56],
                "y": [117, 105, 1, 23, 253, 223, 67, 135, 253, 219, 253, 223, 17, 247, 91, 197,
                      205, 225, 143, 59, 47, 138, 70, 120, 74, 155, 177, 177, 166, 233, 48, 71]
            }}},
            "counter": 1,
            "transports": null,
            "user_verified": false,
            "backup_eligible": false,
            "backup_state": false,
            "registration_policy": "discouraged",
            "extensions": {"cred_protect": "NotRequested", "hmac_create_secret": "NotRequested",
                           "appid": "NotRequested", "cred_props": "Ignored"},
            "attestation": {"data": "None", "metadata": "None"},
            "attestation_format": "none"
        }}))
        .expect("the stored credential format")
    }

    fn is_base64url_unpadded(text: &str) -> bool {
        !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    }

    #[test]
    fn the_relying_party_is_the_origins_host() {
        assert!(relying_party(&settings("http://localhost:8080")).is_ok());
        assert!(relying_party(&settings("https://login.example.com")).is_ok());
        let ip = relying_party(&settings("http://127.0.0.1:8080")).unwrap_err();
        assert!(ip.to_string().contains("domain name"), "{ip}");
    }

    #[test]
    fn user_handles_are_stable_and_distinct() {
        let user = |id, created_at| UserRecord {
            id,
            username: "alice".into(),
            password_hash: String::new(),
            admin: false,
            disabled: false,
            created_at,
            password_changed_at: created_at,
            password_last_used_at: None,
        };
        assert_eq!(user_handle(&user(1, 100)), user_handle(&user(1, 100)));
        assert_ne!(user_handle(&user(1, 100)), user_handle(&user(2, 100)));
        assert_ne!(user_handle(&user(1, 100)), user_handle(&user(1, 101)));
    }

    #[test]
    fn creation_options_are_standard_json_with_unpadded_base64url() {
        let rp = relying_party(&settings("http://localhost:8080")).unwrap();
        let (options, _) = rp
            .start_securitykey_registration(
                Uuid::new_v4(),
                "alice",
                "alice",
                Some(vec![recorded_key().cred_id().clone()]),
                None,
                None,
            )
            .unwrap();
        let options: Value = serde_json::to_value(options).unwrap();
        let public_key = &options["publicKey"];
        assert_eq!(public_key["rp"]["id"], "localhost");
        assert_eq!(public_key["user"]["name"], "alice");
        for field in [&public_key["challenge"], &public_key["user"]["id"]] {
            assert!(is_base64url_unpadded(field.as_str().unwrap()), "{field}");
        }
        assert_eq!(public_key["challenge"].as_str().unwrap().len(), 43);
        assert_eq!(
            public_key["excludeCredentials"],
            json!([{"type": "public-key", "id": RECORDED_CREDENTIAL_ID}])
        );
        // Chromium refuses credProtect "userVerificationRequired" unless
        // userVerification is "required": a touch is the factor here.
        assert_eq!(
            public_key["authenticatorSelection"]["userVerification"],
            "discouraged"
        );
        assert!(public_key["extensions"]["credentialProtectionPolicy"].is_null());
        let algorithms = public_key["pubKeyCredParams"].as_array().unwrap();
        assert!(
            algorithms.contains(&json!({"type": "public-key", "alg": -7})),
            "ES256"
        );
    }

    /// Runs webauthn-rs's check of the recorded answer against our relying
    /// party, with the recorded challenge put into a state we started.
    fn verify_recorded(
        origin: &str,
        assertion: &str,
    ) -> Result<webauthn_rs::prelude::AuthenticationResult, WebauthnError> {
        let rp = relying_party(&settings(origin)).unwrap();
        let (options, state) = rp
            .start_securitykey_authentication(&[recorded_key()])
            .unwrap();

        let options: Value = serde_json::to_value(options).unwrap();
        let public_key = &options["publicKey"];
        assert_eq!(public_key["rpId"], "localhost");
        assert!(is_base64url_unpadded(
            public_key["challenge"].as_str().unwrap()
        ));
        assert_eq!(
            public_key["allowCredentials"],
            json!([{"type": "public-key", "id": RECORDED_CREDENTIAL_ID}])
        );

        let mut state = serde_json::to_value(state).unwrap();
        state["ast"]["challenge"] = json!(RECORDED_CHALLENGE);
        let state: SecurityKeyAuthentication = serde_json::from_value(state).unwrap();
        let credential: PublicKeyCredential = serde_json::from_str(assertion).unwrap();
        rp.finish_securitykey_authentication(&credential, &state)
    }

    #[test]
    fn a_recorded_browser_assertion_is_read_and_verified() {
        let result = verify_recorded("http://localhost:8080", RECORDED_ASSERTION).unwrap();
        assert_eq!(result.counter(), 20);
        let mut key = recorded_key();
        assert_eq!(key.update_credential(&result), Some(true));
    }

    #[test]
    fn the_recorded_assertion_is_refused_on_another_origin_or_when_altered() {
        assert!(matches!(
            verify_recorded("http://localhost:9090", RECORDED_ASSERTION),
            Err(WebauthnError::InvalidRPOrigin)
        ));
        let altered = RECORDED_ASSERTION.replace("MEYCIQDmLVOq", "MEYCIQDmLVOr");
        assert!(verify_recorded("http://localhost:8080", &altered).is_err());
    }

    #[test]
    fn a_padded_credential_is_read_too() {
        // Some older clients pad their base64url; the contract's form has no
        // padding, and both must parse to the same bytes.
        let mut value: Value = serde_json::from_str(RECORDED_ASSERTION).unwrap();
        value["response"]["authenticatorData"] =
            json!("SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MBAAAAFA==");
        let padded: PublicKeyCredential = serde_json::from_value(value).unwrap();
        let unpadded: PublicKeyCredential = serde_json::from_str(RECORDED_ASSERTION).unwrap();
        assert_eq!(
            padded.response.authenticator_data,
            unpadded.response.authenticator_data
        );
    }
}
