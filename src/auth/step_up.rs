//! Step-up: a signed-in user passes a second factor again (an authenticator
//! code, a recovery code or a security key), so that removing a device, making
//! recovery codes or changing the password (which need one within
//! `session.reauth_window_secs`) are allowed; the session then gets a new
//! token. Also the TOTP check shared with the login.

use webauthn_rs::prelude::PublicKeyCredential;

use super::audit::AuditEvent;
use super::login::Method;
use super::session::Token;
use super::throttle::Charge;
use super::totp;
use super::{Account, Auth, AuthError, AuthResult, Client};
use crate::store::{DeviceKind, DeviceRecord};

/// A second factor given again by a signed-in user. A security key answers
/// the challenge from `Auth::start_security_key_step_up`.
#[derive(Debug, Clone, Copy)]
pub enum SecondFactorProof<'a> {
    Totp(&'a str),
    RecoveryCode(&'a str),
    SecurityKey(&'a PublicKeyCredential),
}

impl SecondFactorProof<'_> {
    fn method(&self) -> &'static str {
        match self {
            SecondFactorProof::Totp(_) => "totp",
            SecondFactorProof::RecoveryCode(_) => "recovery_code",
            SecondFactorProof::SecurityKey(_) => "security_key",
        }
    }

    /// How a wrong answer of this kind is refused.
    fn refusal(&self) -> AuthError {
        match self {
            SecondFactorProof::SecurityKey(_) => AuthError::InvalidAssertion,
            _ => AuthError::InvalidCode,
        }
    }
}

impl Auth {
    /// Checks `code` against the confirmed TOTP devices and records the time
    /// step as used (a code works once). The device it matched, or why not.
    pub(crate) async fn accept_totp_code(
        &self,
        devices: &[DeviceRecord],
        code: &str,
    ) -> AuthResult<Result<DeviceRecord, AuthError>> {
        let now = self.clock.now();
        let mut just_used = false;
        for device in devices {
            if device.kind != DeviceKind::Totp || !device.confirmed {
                continue;
            }
            let Some(seed) = self.device_seed(device)? else {
                continue;
            };
            let matched = totp::verify(
                &seed,
                code,
                now,
                device.totp_offset_steps,
                device.totp_last_step,
            );
            match matched {
                Some(step)
                    if self
                        .store
                        .accept_totp_step(&device.id, step, now, None)
                        .await? =>
                {
                    return Ok(Ok(device.clone()));
                }
                // Another request took this step a moment ago.
                Some(_) => just_used = true,
                None => {
                    just_used |= totp::was_just_used(
                        &seed,
                        code,
                        now,
                        device.totp_offset_steps,
                        device.totp_last_step,
                    );
                }
            }
        }
        Ok(Err(if just_used {
            AuthError::CodeJustUsed
        } else {
            AuthError::InvalidCode
        }))
    }

    /// Passes a second factor again within a session: on success the
    /// session's `second_factor_at` is now and it moves to a new token (the
    /// one returned; the old one no longer works), as after every change of
    /// privilege. Wrong answers are throttled per user (and, for codes, per
    /// device) like the login's.
    #[tracing::instrument(skip_all, fields(ip = client.ip_str()))]
    pub async fn reauthenticate(
        &self,
        account: &Account,
        proof: SecondFactorProof<'_>,
        client: &Client,
    ) -> AuthResult<Token> {
        let user = &account.user;
        let devices = self.store.devices_of(user.id).await?;
        let rules = self.throttle_rules();
        let mut charges = vec![Charge {
            key: format!("step_up:user:{}", user.id),
            rule: rules.account_ip,
            set_lock: 0,
        }];
        if matches!(proof, SecondFactorProof::Totp(_)) {
            charges.extend(self.totp_device_charges(&devices));
        }
        let ticket = self.charge_attempt(charges, &user.username, client).await?;
        // A refusal more precise than the proof's usual one (a code just used).
        let mut refusal = None;
        // Ok(the device that answered, if any), or Err(why it was refused, if known).
        let outcome: Result<Option<String>, Option<String>> = match proof {
            SecondFactorProof::Totp(code) => match self.accept_totp_code(&devices, code).await? {
                Ok(device) => Ok(Some(device.name)),
                Err(error) => {
                    refusal = Some(error);
                    Err(None)
                }
            },
            SecondFactorProof::RecoveryCode(code) => {
                if self
                    .use_recovery_code(user.id, &user.username, code, client)
                    .await?
                {
                    Ok(None)
                } else {
                    Err(None)
                }
            }
            SecondFactorProof::SecurityKey(credential) => self
                .accept_assertion(account.session.token_hash, user, credential)
                .await?
                .map(|device| Some(device.name))
                .map_err(Some),
        };
        let mut detail = format!("step_up method={}", proof.method());
        match outcome {
            Ok(device) => {
                if let Some(name) = device {
                    detail.push_str(&format!(" device={name}"));
                }
            }
            Err(reason) => {
                if let Some(reason) = reason {
                    detail.push_str(&format!(" refused: {reason}"));
                }
                self.audit(
                    AuditEvent::LoginSecondFactorFailed,
                    Some(&user.username),
                    client,
                    &detail,
                )
                .await;
                return Err(refusal.unwrap_or_else(|| proof.refusal()));
            }
        }
        self.refund_attempt(ticket, None).await;
        let token = Token::generate();
        if !self
            .store
            .rotate_session(account.session.token_hash, token.hash(), self.clock.now())
            .await?
        {
            return Err(AuthError::Unauthenticated);
        }
        self.audit(
            AuditEvent::LoginSecondFactorOk,
            Some(&user.username),
            client,
            &detail,
        )
        .await;
        Ok(token)
    }

    /// The second factors a signed-in user can step up with (for the page).
    pub async fn step_up_methods(&self, account: &Account) -> AuthResult<Vec<Method>> {
        self.second_factor_methods(account.user.id).await
    }

    /// Whether the session passed a second factor recently enough for a
    /// sensitive change (the account page shows it).
    pub fn has_recent_second_factor(&self, account: &Account) -> bool {
        self.require_recent_second_factor(account).is_ok()
    }
}
