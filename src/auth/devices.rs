//! A user's second factors: enrolling an authenticator app (or a hardware TOTP
//! token) and confirming it, listing devices, removing one. At most
//! `MAX_DEVICES` confirmed factors per user, and exactly one from a first
//! login: every factor (a security key too) is confirmed by `confirm_factor`.

use base64::Engine;

use super::audit::AuditEvent;
use super::login::{Method, SignedIn};
use super::second_factor::{Intent, Passed, Proof};
use super::totp::{self, Seed};
use super::{Account, Auth, AuthError, AuthResult, Client, Enroller};
use crate::store::{
    DeviceKind, DeviceRecord, DeviceRemoval, FactorConfirmation, FactorGate, NewFactor, UserRecord,
};

pub const MAX_DEVICES: usize = 8;
pub const MAX_NAME_CHARS: usize = 64;
/// A started enrolment left unconfirmed this long is dropped.
const UNCONFIRMED_TTL_SECS: i64 = 60 * 60;
/// Hardware tokens drift: two consecutive codes are searched this many steps
/// either side of now (±10 minutes).
pub const HARDWARE_WINDOW_STEPS: i64 = 20;

/// What a new authenticator-app enrolment shows the user, once.
#[derive(Debug)]
pub struct TotpEnrolment {
    pub id: String,
    pub secret_base32: String,
    pub otpauth_uri: String,
    pub qr_png_base64: String,
}

/// A confirmed device; `signed_in` is set when confirming it ended a
/// first-login enrolment and so started a session.
#[derive(Debug)]
pub struct Confirmed {
    pub device_id: String,
    pub signed_in: Option<SignedIn>,
}

/// Checks and trims a device name (1–64 characters).
pub fn device_name(name: Option<&str>, default: &str) -> AuthResult<String> {
    let name = name.map(str::trim).unwrap_or(default);
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(AuthError::InvalidRequest(format!(
            "a device name has 1 to {MAX_NAME_CHARS} printable characters"
        )));
    }
    Ok(name.to_owned())
}

impl Auth {
    /// Starts enrolling an authenticator app (new random seed) or, given the
    /// vendor's base32 seed, a hardware TOTP token.
    pub async fn start_totp(
        &self,
        enroller: &Enroller,
        name: Option<&str>,
        vendor_secret: Option<&str>,
    ) -> AuthResult<TotpEnrolment> {
        let user = enroller.user();
        let hardware = vendor_secret.is_some();
        let name = device_name(
            name,
            if hardware {
                "Hardware token"
            } else {
                "Authenticator app"
            },
        )?;
        let seed = match vendor_secret {
            Some(text) => Seed::from_base32(text).ok_or_else(|| {
                AuthError::InvalidRequest(format!(
                    "secret must be a base32 seed of {} to {} bytes",
                    totp::MIN_SEED_BYTES,
                    totp::MAX_SEED_BYTES
                ))
            })?,
            None => Seed::generate(),
        };
        let now = self.clock.now();
        self.store
            .delete_unconfirmed_before(user.id, now - UNCONFIRMED_TTL_SECS)
            .await?;
        self.ensure_room_for_device(user.id).await?;

        let uri = totp::otpauth_uri(&seed, &self.settings.totp.issuer, &user.username)?;
        let png = totp::qr_png(&uri)?;
        let id = uuid::Uuid::new_v4().to_string();
        self.store
            .insert_device(DeviceRecord {
                id: id.clone(),
                user_id: user.id,
                kind: DeviceKind::Totp,
                name,
                confirmed: false,
                created_at: now,
                last_used_at: None,
                totp_secret: Some(self.seal_seed(&id, &seed)?),
                totp_last_step: None,
                totp_offset_steps: 0,
                hardware,
                credential: None,
                credential_id: None,
            })
            .await?;
        Ok(TotpEnrolment {
            id,
            secret_base32: seed.to_base32(),
            otpauth_uri: uri,
            qr_png_base64: base64::engine::general_purpose::STANDARD.encode(png),
        })
    }

    /// Confirms a TOTP device with a valid code (a hardware token: two
    /// consecutive codes). For a first-login user this starts the session.
    pub async fn confirm_totp(
        &self,
        enroller: &Enroller,
        device_id: &str,
        code: &str,
        next_code: Option<&str>,
        client: &Client,
    ) -> AuthResult<Confirmed> {
        let intent = Intent::Enrol {
            enroller,
            device_id,
            next_code,
        };
        match self
            .verify_second_factor(intent, Proof::Totp(code), client)
            .await?
        {
            Passed::Enrolled(confirmed) => Ok(confirmed),
            _ => Err(AuthError::Unexpected(anyhow::anyhow!(
                "an enrolment confirmed no device"
            ))),
        }
    }

    /// Makes `factor` count for the enroller under the rules a user's factors
    /// obey — at most `MAX_DEVICES`, exactly one from a first login — which
    /// the store checks and writes in one transaction, so parallel
    /// confirmations cannot break them. A first-login enroller is signed in
    /// by that same transaction (or, when another confirmation won, nothing
    /// is written and the answer is `Unauthenticated`).
    pub(crate) async fn confirm_factor(
        &self,
        enroller: &Enroller,
        factor: NewFactor,
        client: &Client,
        enrolled_detail: &str,
        sign_in_detail: &str,
    ) -> AuthResult<Option<SignedIn>> {
        let user = enroller.user();
        let (gate, token) = match enroller {
            Enroller::SignedIn(_) => (
                FactorGate::SignedIn {
                    max_factors: MAX_DEVICES as u32,
                },
                None,
            ),
            Enroller::FirstFactor { pending, .. } => {
                let method = match &factor {
                    NewFactor::Totp { .. } => Method::Totp,
                    NewFactor::SecurityKey(device) if device.kind == DeviceKind::Passkey => {
                        Method::Passkey
                    }
                    NewFactor::SecurityKey(_) => Method::SecurityKey,
                };
                let (token, session) = self.new_session(user.id, method, client);
                let pending = pending.token_hash;
                (FactorGate::FirstLogin { pending, session }, Some(token))
            }
        };
        match self.store.confirm_factor(user.id, factor, gate).await? {
            FactorConfirmation::Confirmed => {}
            FactorConfirmation::StepRefused => return Err(AuthError::InvalidEnrolmentCode),
            FactorConfirmation::KeyAlreadyRegistered => {
                tracing::info!(username = %user.username, "security key registration refused: key already registered");
                return Err(AuthError::InvalidAttestation);
            }
            FactorConfirmation::TooManyFactors => {
                return Err(AuthError::TooManyDevices(MAX_DEVICES));
            }
            FactorConfirmation::NotFirstFactor => return Err(AuthError::Unauthenticated),
        }
        self.audit(
            AuditEvent::DeviceEnrolled,
            Some(&user.username),
            client,
            enrolled_detail,
        )
        .await;
        match token {
            Some(token) => Ok(Some(
                self.session_started(token, user, client, sign_in_detail)
                    .await?,
            )),
            None => Ok(None),
        }
    }

    /// Shows an unconfirmed enrolment again (the page that displays the QR code).
    pub async fn show_totp_enrolment(
        &self,
        enroller: &Enroller,
        device_id: &str,
    ) -> AuthResult<TotpEnrolment> {
        let user = enroller.user();
        let device = self
            .device_of(user.id, device_id)
            .await?
            .filter(|d| d.kind == DeviceKind::Totp && !d.confirmed)
            .ok_or(AuthError::NotFound("enrolment"))?;
        let seed = self
            .device_seed(&device)?
            .ok_or(AuthError::NotFound("enrolment"))?;
        let uri = totp::otpauth_uri(&seed, &self.settings.totp.issuer, &user.username)?;
        Ok(TotpEnrolment {
            id: device.id,
            secret_base32: seed.to_base32(),
            qr_png_base64: base64::engine::general_purpose::STANDARD.encode(totp::qr_png(&uri)?),
            otpauth_uri: uri,
        })
    }

    /// Refuses a new device early when the user already holds `MAX_DEVICES`
    /// factors (the store enforces the limit again at confirmation).
    pub(crate) async fn ensure_room_for_device(
        &self,
        user: crate::store::UserId,
    ) -> AuthResult<()> {
        let confirmed = self
            .store
            .devices_of(user)
            .await?
            .iter()
            .filter(|d| d.confirmed)
            .count();
        if confirmed >= MAX_DEVICES {
            return Err(AuthError::TooManyDevices(MAX_DEVICES));
        }
        Ok(())
    }

    /// One of the user's devices (confirmed or not) by its id; another
    /// user's device is as absent as one that does not exist.
    pub(crate) async fn device_of(
        &self,
        user: crate::store::UserId,
        device_id: &str,
    ) -> AuthResult<Option<DeviceRecord>> {
        Ok(self
            .store
            .devices_of(user)
            .await?
            .into_iter()
            .find(|d| d.id == device_id))
    }

    /// The confirmed devices of a signed-in user, oldest first.
    pub async fn devices(&self, user: &UserRecord) -> AuthResult<Vec<DeviceRecord>> {
        let mut devices = self.store.devices_of(user.id).await?;
        devices.retain(|d| d.confirmed);
        Ok(devices)
    }

    /// Removes one of the user's devices (needs a recent second factor), never
    /// the last one: only an administrator's lost-device reset removes all.
    pub async fn remove_device(
        &self,
        account: &Account,
        device_id: &str,
        client: &Client,
    ) -> AuthResult<()> {
        let device = self
            .device_of(account.user.id, device_id)
            .await?
            .ok_or(AuthError::NotFound("device"))?;
        self.require_recent_second_factor(account)?;
        match self.store.delete_device(account.user.id, device_id).await? {
            DeviceRemoval::Removed => {}
            DeviceRemoval::NotFound => return Err(AuthError::NotFound("device")),
            DeviceRemoval::LastFactor => return Err(AuthError::LastFactor),
        }
        let detail = format!("kind={} device={}", device.kind.as_str(), device.name);
        self.audit(
            AuditEvent::DeviceRemoved,
            Some(&account.user.username),
            client,
            &detail,
        )
        .await;
        Ok(())
    }

    /// Seals a TOTP seed for storage (AES-256-GCM), bound to its device row.
    pub(crate) fn seal_seed(&self, device_id: &str, seed: &Seed) -> AuthResult<Vec<u8>> {
        Ok(self.secrets.seal_seed(device_id, seed.as_bytes())?)
    }

    /// The TOTP seed of a device, unsealed; a seed that does not open (moved
    /// to another row, or altered) is an error, never a silent skip.
    pub(crate) fn device_seed(&self, device: &DeviceRecord) -> AuthResult<Option<Seed>> {
        match &device.totp_secret {
            Some(sealed) => Ok(Some(Seed::from_bytes(
                self.secrets.open_seed(&device.id, sealed)?,
            ))),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_are_trimmed_and_bounded() {
        assert_eq!(device_name(Some("  phone "), "x").unwrap(), "phone");
        assert_eq!(
            device_name(None, "Authenticator app").unwrap(),
            "Authenticator app"
        );
        assert!(device_name(Some(""), "x").is_err());
        assert!(device_name(Some(&"a".repeat(65)), "x").is_err());
        assert!(device_name(Some(&"é".repeat(64)), "x").is_ok());
        assert!(device_name(Some("a\nb"), "x").is_err());
    }
}
