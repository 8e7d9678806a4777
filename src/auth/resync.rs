//! Resynchronising a TOTP device whose clock drifted (AWS IAM's "resync MFA
//! device"): two consecutive codes are searched within a wide window around
//! now, and the device's offset is stored so later sign-ins look there. A
//! wrong pair counts against the device like a wrong code at login.

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
            .device_of(account.user.id, device_id)
            .await?
            .filter(|d| d.confirmed)
            .ok_or(AuthError::NotFound("device"))?;
        if device.kind != DeviceKind::Totp {
            return Err(AuthError::InvalidRequest(
                "only an authenticator app or a hardware TOTP token can be resynchronised".into(),
            ));
        }
        let seed = self
            .device_seed(&device)?
            .ok_or(AuthError::NotFound("device"))?;
        // A wrong pair is a wrong code for this device, counted as at login:
        // otherwise resync would be an unthrottled way to test codes.
        let charges = self.totp_device_charges(std::slice::from_ref(&device));
        let ticket = self
            .charge_attempt(charges, &account.user.username, client)
            .await?;
        let now = self.clock.now();
        let found = totp::find_consecutive(&seed, code, next_code, now, HARDWARE_WINDOW_STEPS);
        let accepted = match found {
            Some(step) => {
                let offset_steps = step - totp::step_at(now);
                self.store
                    .accept_totp_step(&device.id, step, now, Some(offset_steps))
                    .await?
                    .then_some(offset_steps)
            }
            None => None,
        };
        let Some(offset_steps) = accepted else {
            return Err(AuthError::InvalidEnrolmentCode);
        };
        self.refund_attempt(ticket, None).await;
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
