//! Step-up: a signed-in user passes a second factor again, so that removing a
//! device, making recovery codes or changing the password (which need one
//! within `session.reauth_window_secs`) are allowed. Also the TOTP check
//! shared with the login.

use super::audit::AuditEvent;
use super::throttle::Charge;
use super::totp;
use super::{Account, Auth, AuthError, AuthResult, Client};
use crate::store::{DeviceKind, DeviceRecord};

/// A second factor given again by a signed-in user.
#[derive(Debug, Clone, Copy)]
pub enum SecondFactorProof<'a> {
    Totp(&'a str),
    RecoveryCode(&'a str),
}

impl SecondFactorProof<'_> {
    fn method(&self) -> &'static str {
        match self {
            SecondFactorProof::Totp(_) => "totp",
            SecondFactorProof::RecoveryCode(_) => "recovery_code",
        }
    }
}

impl Auth {
    /// Checks `code` against the confirmed TOTP devices and records the time
    /// step as used (a code works once). The device it matched, if any.
    pub(crate) async fn accept_totp_code(
        &self,
        devices: &[DeviceRecord],
        code: &str,
    ) -> AuthResult<Option<DeviceRecord>> {
        let now = self.clock.now();
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
            if let Some(step) = matched
                && self
                    .store
                    .accept_totp_step(&device.id, step, now, false, None)
                    .await?
            {
                return Ok(Some(device.clone()));
            }
        }
        Ok(None)
    }

    /// Passes a second factor again within a session: on success the
    /// session's `second_factor_at` is now. Wrong answers are throttled per
    /// user (and, for codes, per device) like the login's.
    #[tracing::instrument(skip_all, fields(ip = client.ip_str()))]
    pub async fn reauthenticate(
        &self,
        account: &Account,
        proof: SecondFactorProof<'_>,
        client: &Client,
    ) -> AuthResult<()> {
        let user = &account.user;
        let devices = self.store.devices_of(user.id).await?;
        let rules = self.throttle_rules();
        let mut charges = vec![Charge {
            key: format!("step_up:user:{}", user.id),
            rule: rules.account_ip,
            set_lock: 0,
        }];
        if matches!(proof, SecondFactorProof::Totp(_)) {
            charges.extend(
                devices
                    .iter()
                    .filter(|d| d.confirmed && d.kind == DeviceKind::Totp)
                    .map(|d| Charge {
                        key: super::throttle::totp_device_key(&d.id),
                        rule: rules.totp_device,
                        set_lock: 0,
                    }),
            );
        }
        let ticket = self.charge_attempt(charges, &user.username, client).await?;
        let passed = match proof {
            SecondFactorProof::Totp(code) => self
                .accept_totp_code(&devices, code)
                .await?
                .map(|device| format!("step_up method=totp device={}", device.name)),
            SecondFactorProof::RecoveryCode(code) => self
                .use_recovery_code(user.id, &user.username, code, client)
                .await?
                .then(|| "step_up method=recovery_code".to_owned()),
        };
        let Some(detail) = passed else {
            let detail = format!("step_up method={}", proof.method());
            self.audit(
                AuditEvent::LoginSecondFactorFailed,
                Some(&user.username),
                client,
                &detail,
            )
            .await;
            return Err(AuthError::InvalidCode);
        };
        self.refund_attempt(ticket, None).await;
        self.store
            .refresh_second_factor(account.session.token_hash, self.clock.now())
            .await?;
        self.audit(
            AuditEvent::LoginSecondFactorOk,
            Some(&user.username),
            client,
            &detail,
        )
        .await;
        Ok(())
    }

    /// Whether the session passed a second factor recently enough for a
    /// sensitive change (the account page shows it).
    pub fn has_recent_second_factor(&self, account: &Account) -> bool {
        self.require_recent_second_factor(account).is_ok()
    }
}
