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

/// What an authenticator code turned out to be.
#[derive(Debug)]
pub(crate) enum CodeCheck {
    /// Right, and its time step is now used.
    Accepted(DeviceRecord),
    /// Right for a step already used (often the same code sent twice at
    /// once): refused, but no guess, so no throttle or failure counter pays.
    Replayed,
    Wrong,
}

impl Auth {
    /// Checks `code` against the confirmed TOTP devices and records the time
    /// step as used (a code works once).
    pub(crate) async fn accept_totp_code(
        &self,
        devices: &[DeviceRecord],
        code: &str,
    ) -> AuthResult<CodeCheck> {
        let now = self.clock.now();
        let mut replayed = false;
        for device in devices {
            if device.kind != DeviceKind::Totp || !device.confirmed {
                continue;
            }
            let Some(seed) = self.device_seed(device)? else {
                continue;
            };
            let offset = device.totp_offset_steps;
            match totp::verify(&seed, code, now, offset, device.totp_last_step) {
                // The conditional update fails when a parallel request used
                // this step first.
                Some(step)
                    if self
                        .store
                        .accept_totp_step(&device.id, step, now, None)
                        .await? =>
                {
                    return Ok(CodeCheck::Accepted(device.clone()));
                }
                Some(_) => replayed = true,
                None => replayed |= totp::verify(&seed, code, now, offset, None).is_some(),
            }
        }
        Ok(if replayed {
            CodeCheck::Replayed
        } else {
            CodeCheck::Wrong
        })
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
        // Ok(the device that answered, if any), or Err(why it was refused, if known).
        let outcome: Result<Option<String>, Option<String>> = match proof {
            SecondFactorProof::Totp(code) => match self.accept_totp_code(&devices, code).await? {
                CodeCheck::Accepted(device) => Ok(Some(device.name)),
                CodeCheck::Replayed => {
                    self.refund_attempt(ticket, None).await;
                    // The distinct "just used; wait for the next one" refusal.
                    return Err(AuthError::CodeJustUsed);
                }
                CodeCheck::Wrong => Err(None),
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
                return Err(proof.refusal());
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
