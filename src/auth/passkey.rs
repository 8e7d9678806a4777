//! Passkeys: discoverable WebAuthn credentials that verify their user (PIN or
//! biometric), so one ceremony is both factors. Enrolling one (signed in, or
//! at first login), the passwordless sign-in where the credential names its
//! user, the challenge of a step-up with one, and the authenticator-model
//! rule (`webauthn.allowed_aaguids`) shared with security keys.

use anyhow::Context;
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{
    AttestationMetadata, CreationChallengeResponse, DiscoverableAuthentication, ParsedAttestation,
    Passkey, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Uuid, WebauthnError,
};
use webauthn_rs_proto::{AttestationConveyancePreference, ResidentKeyRequirement};

use super::devices::device_name;
use super::login::SignedIn;
use super::second_factor::{Intent, Proof};
use super::security_key::{NewWebauthnDevice, RegisteredKey, ceremony_owner, user_handle};
use super::session::Token;
use super::throttle::{Charge, ip_bucket};
use super::{Account, Auth, AuthError, AuthResult, Client, Enroller};
use crate::store::{CeremonyPurpose, DeviceKind, DeviceRecord, TokenHash, UserId, UserRecord};

/// The key a passkey ceremony is kept under: derived from the token that
/// began it (a session, a pending login or a sign-in's own cookie), so a
/// passkey challenge is never answered through the security-key endpoints
/// (whose state has the same shape) nor the other way round.
fn passkey_owner(token_hash: TokenHash) -> TokenHash {
    Sha256::new()
        .chain_update(b"twofold passkey ceremony\0")
        .chain_update(token_hash)
        .finalize()
        .into()
}

/// The model an authenticator's attestation states, if it states one.
fn stated_model(attestation: &ParsedAttestation) -> Option<Uuid> {
    match attestation.metadata {
        AttestationMetadata::Packed { aaguid } | AttestationMetadata::Tpm { aaguid, .. } => {
            Some(aaguid)
        }
        _ => None,
    }
}

/// A passkey sign-in that was begun: the cookie's token and the options.
#[derive(Debug)]
pub struct PasskeyChallenge {
    pub token: Token,
    pub options: RequestChallengeResponse,
}

/// The user a passkey names, and the passkey.
pub(super) struct Named {
    pub user: UserRecord,
    pub device: DeviceRecord,
}

impl Auth {
    fn ensure_passkeys_on(&self) -> AuthResult<()> {
        if self.settings.webauthn.passkeys {
            Ok(())
        } else {
            Err(AuthError::PasskeysOff)
        }
    }

    /// The credential ids of every WebAuthn device of the user (security
    /// keys and passkeys), for `excludeCredentials`.
    pub(super) async fn webauthn_credential_ids(
        &self,
        user: UserId,
    ) -> AuthResult<Vec<webauthn_rs::prelude::CredentialID>> {
        Ok(self
            .store
            .devices_of(user)
            .await?
            .into_iter()
            .filter(|d| d.kind.is_webauthn())
            .filter_map(|d| d.credential_id)
            .collect())
    }

    /// When only some models may be enrolled, the browser is asked for the
    /// authenticator's attestation, which states its model.
    pub(super) fn request_attestation_if_models_restricted(
        &self,
        options: &mut CreationChallengeResponse,
    ) {
        if self.settings.webauthn.allowed_models().is_some() {
            options.public_key.attestation = Some(AttestationConveyancePreference::Direct);
        }
    }

    /// Refuses an authenticator whose model `webauthn.allowed_aaguids` does
    /// not list (or whose attestation states no model).
    pub(super) fn check_model(&self, attestation: &ParsedAttestation) -> AuthResult<()> {
        let Some(allowed) = self.settings.webauthn.allowed_models() else {
            return Ok(());
        };
        match stated_model(attestation) {
            Some(model) if allowed.contains(&model) => Ok(()),
            Some(model) => Err(AuthError::ModelNotAllowed(format!(
                "this authenticator's model ({model}) is not one this server allows \
                 (webauthn.allowed_aaguids); use one of the approved security keys"
            ))),
            None => Err(AuthError::ModelNotAllowed(
                "this authenticator does not state its model, and this server allows only \
                 listed models (webauthn.allowed_aaguids); use one of the approved security keys"
                    .into(),
            )),
        }
    }

    /// Starts enrolling a passkey: options for `navigator.credentials.create`
    /// that require a discoverable credential and user verification.
    pub async fn start_passkey_registration(
        &self,
        enroller: &Enroller,
        name: &str,
    ) -> AuthResult<CreationChallengeResponse> {
        self.ensure_passkeys_on()?;
        let user = enroller.user();
        let name = device_name(Some(name), "")?;
        self.ensure_room_for_device(user.id).await?;
        let registered = self.webauthn_credential_ids(user.id).await?;
        // webauthn-rs's passkey options ask for user verification but leave
        // the key's residence to the authenticator: a passkey must be
        // discoverable, or it could not name its user at sign-in.
        let (mut options, state) = self
            .relying_party()?
            .start_passkey_registration(
                user_handle(user),
                &user.username,
                &user.username,
                Some(registered),
            )
            .map_err(|e| AuthError::Unexpected(anyhow::Error::new(e)))?;
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.require_resident_key = true;
            selection.resident_key = Some(ResidentKeyRequirement::Required);
        }
        self.request_attestation_if_models_restricted(&mut options);
        self.begin_ceremony(
            passkey_owner(ceremony_owner(enroller)),
            CeremonyPurpose::Registration,
            Some(user.id),
            Some(name),
            &state,
        )
        .await?;
        Ok(options)
    }

    /// Checks the authenticator's answer and adds the passkey (a device of
    /// kind `passkey`). For a first-login user this starts the session.
    pub async fn finish_passkey_registration(
        &self,
        enroller: &Enroller,
        credential: &RegisterPublicKeyCredential,
        client: &Client,
    ) -> AuthResult<RegisteredKey> {
        self.ensure_passkeys_on()?;
        let user = enroller.user();
        let owner = passkey_owner(ceremony_owner(enroller));
        let (ceremony, state): (_, PasskeyRegistration) =
            self.take_registration(owner, user, "passkey").await?;
        // The state requires user verification: an answer without it fails here.
        let passkey = self
            .relying_party()?
            .finish_passkey_registration(credential, &state)
            .map_err(|e| {
                tracing::info!(username = %user.username, error = %e, "passkey registration refused");
                AuthError::InvalidAttestation
            })?;
        // The browser reports (credProps) whether the credential is
        // discoverable; one that says it is not cannot sign in alone.
        if credential.extensions.cred_props.as_ref().and_then(|p| p.rk) == Some(false) {
            tracing::info!(username = %user.username, "passkey registration refused: not discoverable");
            return Err(AuthError::InvalidAttestation);
        }
        let internals = webauthn_rs::prelude::Credential::from(passkey.clone());
        self.check_model(&internals.attestation)?;

        let name = ceremony.device_name.unwrap_or_else(|| "Passkey".to_owned());
        let new_passkey = NewWebauthnDevice {
            kind: DeviceKind::Passkey,
            name,
            credential: serde_json::to_string(&passkey).context("serialising a passkey")?,
            credential_id: passkey.cred_id().to_vec(),
        };
        self.enrol_webauthn_device(enroller, new_passkey, client)
            .await
    }

    /// Begins a passwordless sign-in: options with no `allowCredentials`
    /// (the browser offers the passkeys it holds for this site), kept on the
    /// server under a new cookie's token.
    pub async fn start_passkey_login(&self, client: &Client) -> AuthResult<PasskeyChallenge> {
        self.ensure_passkeys_on()?;
        let address = client.ip.as_deref().map(ip_bucket);
        self.passkey_begins
            .admit(address.as_deref(), self.clock.now())
            .map_err(|retry_after_secs| AuthError::TooManyAttempts { retry_after_secs })?;
        let token = Token::generate();
        let options = self.start_passkey_challenge(token.hash(), None).await?;
        Ok(PasskeyChallenge { token, options })
    }

    /// Begins a step-up with a passkey for a signed-in user.
    pub async fn start_passkey_step_up(
        &self,
        account: &Account,
    ) -> AuthResult<RequestChallengeResponse> {
        self.ensure_passkeys_on()?;
        self.start_passkey_challenge(account.session.token_hash, Some(account.user.id))
            .await
    }

    async fn start_passkey_challenge(
        &self,
        owner: TokenHash,
        user: Option<UserId>,
    ) -> AuthResult<RequestChallengeResponse> {
        let (options, state) = self
            .relying_party()?
            .start_discoverable_authentication()
            .map_err(|e| AuthError::Unexpected(anyhow::Error::new(e)))?;
        self.begin_ceremony(
            passkey_owner(owner),
            CeremonyPurpose::Authentication,
            user,
            None,
            &state,
        )
        .await?;
        Ok(options)
    }

    /// Signs in with a passkey's answer alone: the credential names its
    /// user. Every refusal is `invalid_assertion` and counts against the
    /// client's address.
    pub async fn login_passkey(
        &self,
        ceremony: Option<&Token>,
        credential: &PublicKeyCredential,
        client: &Client,
    ) -> AuthResult<SignedIn> {
        self.ensure_passkeys_on()?;
        let intent = Intent::Login {
            pending: None,
            remember_browser: false,
        };
        let proof = Proof::Passkey {
            credential,
            ceremony,
        };
        self.verify_second_factor(intent, proof, client)
            .await?
            .into_signed_in()
    }

    /// The counter a passwordless sign-in's refusals are charged to: the
    /// client's address (no account is known before the answer is checked).
    pub(super) fn passkey_ip_charges(&self, client: &Client) -> Vec<Charge> {
        client
            .ip
            .as_deref()
            .map(|ip| Charge {
                key: format!("passkey:ip:{}", ip_bucket(ip)),
                rule: self.throttle_rules().ip,
                set_lock: 0,
            })
            .into_iter()
            .collect()
    }

    /// The passkey an assertion names and its user; `None` when no passkey
    /// has that credential id, its user handle is another's, or the user is
    /// disabled.
    pub(super) async fn passkey_named_by(
        &self,
        credential: &PublicKeyCredential,
    ) -> AuthResult<Option<Named>> {
        let Some(device) = self
            .store
            .device_by_credential_id(credential.get_credential_id().to_vec())
            .await?
            .filter(|d| d.kind == DeviceKind::Passkey && d.confirmed)
        else {
            return Ok(None);
        };
        let Some(user) = self
            .store
            .user_by_id(device.user_id)
            .await?
            .filter(|u| !u.disabled)
        else {
            return Ok(None);
        };
        let handle = credential
            .get_user_unique_id()
            .and_then(|bytes| Uuid::from_slice(bytes).ok());
        if handle != Some(user_handle(&user)) {
            return Ok(None);
        }
        Ok(Some(Named { user, device }))
    }

    /// Verifies a passkey's answer to the challenge begun under `owner`, and
    /// writes its counter and backup flags back. The passkey on success, or
    /// why it was refused (for the audit trail).
    pub(super) async fn accept_passkey_assertion(
        &self,
        owner: TokenHash,
        expected_user: Option<UserId>,
        device: &DeviceRecord,
        credential: &PublicKeyCredential,
    ) -> AuthResult<Result<DeviceRecord, String>> {
        let Some(ceremony) = self
            .take_ceremony(
                passkey_owner(owner),
                CeremonyPurpose::Authentication,
                expected_user,
            )
            .await?
        else {
            return Ok(Err("no live challenge".into()));
        };
        let state: DiscoverableAuthentication = serde_json::from_str(&ceremony.state)
            .context("reading a passkey authentication state")?;
        let json = device.credential.as_deref().unwrap_or_default();
        let mut passkey: Passkey = serde_json::from_str(json)
            .with_context(|| format!("reading the credential of passkey {}", device.id))?;
        // Requires user verification (the state's policy): an answer without
        // it is refused here.
        let result = match self
            .relying_party()?
            .finish_discoverable_authentication_v2(credential, state, &passkey)
        {
            Ok(result) => result,
            Err(WebauthnError::UserNotVerified) => return Ok(Err("user not verified".into())),
            Err(e) => return Ok(Err(e.to_string())),
        };
        passkey.update_credential(&result);
        let updated = serde_json::to_string(&passkey).context("serialising a passkey")?;
        let written = self
            .store
            .record_security_key_use(&device.id, updated, result.counter(), self.clock.now())
            .await?;
        if !written {
            tracing::warn!(device = %device.id, "passkey refused: its signature counter did not grow");
            return Ok(Err(format!(
                "signature counter {} did not grow",
                result.counter()
            )));
        }
        Ok(Ok(device.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_attestation_that_states_a_model_names_one() {
        let aaguid = Uuid::new_v4();
        let packed = ParsedAttestation {
            data: webauthn_rs::prelude::ParsedAttestationData::None,
            metadata: AttestationMetadata::Packed { aaguid },
        };
        assert_eq!(stated_model(&packed), Some(aaguid));
        assert_eq!(stated_model(&ParsedAttestation::default()), None);
    }

    #[test]
    fn passkey_ceremonies_are_kept_apart_from_security_key_ones() {
        let owner = [7u8; 32];
        assert_ne!(passkey_owner(owner), owner);
        assert_eq!(passkey_owner(owner), passkey_owner(owner));
    }
}
