//! Resynchronising a TOTP device whose clock drifted (AWS IAM's "resync MFA
//! device"): two consecutive codes are searched within a wide window around
//! now, and the device's offset is stored so later sign-ins look there.

use super::audit::AuditEvent;
use super::devices::HARDWARE_WINDOW_STEPS;
use super::totp;
use super::{Account, Auth, AuthError, AuthResult, Client};
use crate::store::DeviceKind;

/// A device found again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resynced {
    /// How far the device's clock is from ours, in 30-second steps.
    pub offset_steps: i64,
}

impl Auth {
    /// Finds one of the user's TOTP devices again from two consecutive codes
    /// (`code`, then `next_code`) within ±10 minutes, and stores its drift.
    /// Codes at or before the last step the device already used are refused,
    /// so a code seen once can't be replayed here either.
    pub async fn resync_totp(
        &self,
        account: &Account,
        device_id: &str,
        code: &str,
        next_code: &str,
        client: &Client,
    ) -> AuthResult<Resynced> {
        let device = self
            .store
            .devices_of(account.user.id)
            .await?
            .into_iter()
            .find(|d| d.id == device_id && d.confirmed)
            .ok_or(AuthError::NotFound("device"))?;
        if device.kind != DeviceKind::Totp {
            return Err(AuthError::InvalidRequest(
                "only an authenticator app or a hardware TOTP token can be resynchronised".into(),
            ));
        }
        let seed = self
            .device_seed(&device)?
            .ok_or(AuthError::NotFound("device"))?;
        let now = self.clock.now();
        let step = totp::find_consecutive(&seed, code, next_code, now, HARDWARE_WINDOW_STEPS)
            .ok_or(AuthError::InvalidEnrolmentCode)?;
        let offset_steps = step - totp::step_at(now);
        if !self
            .store
            .accept_totp_step(&device.id, step, now, false, Some(offset_steps))
            .await?
        {
            return Err(AuthError::InvalidEnrolmentCode);
        }
        let detail = format!(
            "device={}; offset {} s (was {} s)",
            device.name,
            offset_steps * totp::STEP_SECS,
            device.totp_offset_steps * totp::STEP_SECS
        );
        self.audit(
            AuditEvent::DeviceResynced,
            Some(&account.user.username),
            client,
            &detail,
        )
        .await;
        Ok(Resynced { offset_steps })
    }
}
