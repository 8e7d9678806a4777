//! Renaming a second factor: the user's own label for a device ("work
//! phone", "blue key"), so that the account page tells them apart. A rename
//! changes nothing about how the device signs in, so it needs no step-up.

use super::audit::AuditEvent;
use super::devices::device_name;
use super::{Account, Auth, AuthError, AuthResult, Client};
use crate::store::DeviceRecord;

impl Auth {
    /// Gives one of the user's confirmed devices a new name (1–64 printable
    /// characters, trimmed) and returns the device as it now is.
    pub async fn rename_device(
        &self,
        account: &Account,
        device_id: &str,
        name: &str,
        client: &Client,
    ) -> AuthResult<DeviceRecord> {
        let name = device_name(Some(name), "")?;
        let mut device = self
            .devices(&account.user)
            .await?
            .into_iter()
            .find(|d| d.id == device_id)
            .ok_or(AuthError::NotFound("device"))?;
        if !self
            .store
            .rename_device(account.user.id, device_id, &name)
            .await?
        {
            return Err(AuthError::NotFound("device"));
        }
        let detail = format!(
            "kind={} device={} new_name={name}",
            device.kind.as_str(),
            device.name
        );
        self.audit(
            AuditEvent::DeviceRenamed,
            Some(&account.user.username),
            client,
            &detail,
        )
        .await;
        device.name = name;
        Ok(device)
    }
}
