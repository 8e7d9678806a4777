//! Access keys, as AWS's: an id (`TFAK` + 16 base32 characters) and a
//! secret of 240 random bits shown once, kept only as a keyed hash and
//! checked in constant time (microseconds, not an Argon2 hash). At most two a
//! user, so one can be rotated; every wrong secret is counted per key id and
//! per client address, as passwords are.

use base64::Engine;
use data_encoding::BASE32_NOPAD;
use rand::RngCore;
use subtle::ConstantTimeEq;

use super::admin::Actor;
use super::audit::AuditEvent;
use super::clock::Timestamp;
use super::session::TOUCH_INTERVAL_SECS;
use super::throttle::{Charge, ip_bucket};
use super::{Account, Auth, AuthError, AuthResult, Client};
use crate::store::{AccessKeyRecord, UserRecord};

/// Keys a user may hold at once (AWS's two: one in use, one being rotated in).
pub const MAX_ACCESS_KEYS: u32 = 2;
const ID_PREFIX: &str = "TFAK";
/// 10 random bytes are 16 base32 characters.
const ID_RANDOM_BYTES: usize = 10;
/// 30 random bytes (240 bits) are 40 base64url characters.
const SECRET_RANDOM_BYTES: usize = 30;
/// No secret we hand out is longer: anything longer is wrong without hashing.
const MAX_SECRET_CHARS: usize = 128;

/// A key just made: its secret, to be shown this once.
#[derive(Debug)]
pub struct NewAccessKey {
    pub key: AccessKeyRecord,
    pub secret: secrecy::SecretString,
}

/// Whether `id` has the shape of an access key id (checked before any lookup).
pub fn is_key_id(id: &str) -> bool {
    id.len() == ID_PREFIX.len() + 16
        && id.starts_with(ID_PREFIX)
        && id[ID_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
}

fn new_key_id() -> String {
    let mut bytes = [0u8; ID_RANDOM_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    format!("{ID_PREFIX}{}", BASE32_NOPAD.encode(&bytes))
}

fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_RANDOM_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The throttle counters one key check is charged to, as a password's are:
/// the key id as given (so an unknown id counts too) with the client's
/// address, the key id alone, and the address alone.
fn key_charges(auth: &Auth, id: &str, client: &Client) -> Vec<Charge> {
    let rules = auth.throttle_rules();
    let id: String = id.chars().take(ID_PREFIX.len() + 16).collect();
    let ip = client.ip.as_deref().map(ip_bucket);
    let charge = |key: String, rule| Charge {
        key,
        rule,
        set_lock: 0,
    };
    let mut charges = vec![
        charge(
            format!("access_key:key_ip:{id}|{}", ip.as_deref().unwrap_or("")),
            rules.account_ip,
        ),
        charge(format!("access_key:key:{id}"), rules.account),
    ];
    if let Some(ip) = ip {
        charges.push(charge(format!("access_key:ip:{ip}"), rules.ip));
    }
    charges
}

impl Auth {
    /// A new key for the signed-in user: needs a second factor passed within
    /// the re-auth window; 409 when they hold two already (counted and
    /// written in one transaction).
    pub async fn create_access_key(
        &self,
        account: &Account,
        client: &Client,
    ) -> AuthResult<NewAccessKey> {
        self.require_recent_second_factor(account)?;
        self.add_access_key(&account.user, client, "").await
    }

    async fn add_access_key(
        &self,
        user: &UserRecord,
        client: &Client,
        by: &str,
    ) -> AuthResult<NewAccessKey> {
        let (id, secret) = (new_key_id(), new_secret());
        let key = AccessKeyRecord {
            secret_hash: self.secrets.access_key_hash(&id, &secret),
            id,
            user_id: user.id,
            active: true,
            created_at: self.clock.now(),
            last_used_at: None,
        };
        if !self
            .store
            .insert_access_key(key.clone(), MAX_ACCESS_KEYS)
            .await?
        {
            return Err(AuthError::TooManyAccessKeys(MAX_ACCESS_KEYS));
        }
        let detail = format!("key={}{by}", key.id);
        self.audit(
            AuditEvent::AccessKeyCreated,
            Some(&user.username),
            client,
            &detail,
        )
        .await;
        Ok(NewAccessKey {
            key,
            secret: secret.into(),
        })
    }

    /// The user's keys, oldest first.
    pub async fn access_keys(&self, user: &UserRecord) -> AuthResult<Vec<AccessKeyRecord>> {
        Ok(self.store.access_keys_of(user.id).await?)
    }

    /// Activates or deactivates one of the user's keys; deactivating voids
    /// the temporary credentials made from it at once. The key as it is now.
    pub async fn set_access_key_status(
        &self,
        user: &UserRecord,
        id: &str,
        active: bool,
        client: &Client,
        by: Option<&Actor>,
    ) -> AuthResult<AccessKeyRecord> {
        if !self
            .store
            .set_access_key_active(user.id, id, active)
            .await?
        {
            return Err(AuthError::NotFound("access key"));
        }
        let event = if active {
            AuditEvent::AccessKeyActivated
        } else {
            AuditEvent::AccessKeyDeactivated
        };
        let detail = format!("key={id}{}", by_part(by));
        self.audit(event, Some(&user.username), client, &detail)
            .await;
        self.store
            .access_keys_of(user.id)
            .await?
            .into_iter()
            .find(|k| k.id == id)
            .ok_or(AuthError::NotFound("access key"))
    }

    /// Deletes one of the user's keys and the temporary credentials made from it.
    pub async fn delete_access_key(
        &self,
        user: &UserRecord,
        id: &str,
        client: &Client,
        by: Option<&Actor>,
    ) -> AuthResult<()> {
        if !self.store.delete_access_key(user.id, id).await? {
            return Err(AuthError::NotFound("access key"));
        }
        let detail = format!("key={id}{}", by_part(by));
        self.audit(
            AuditEvent::AccessKeyDeleted,
            Some(&user.username),
            client,
            &detail,
        )
        .await;
        Ok(())
    }

    /// An administrator's view: the user by name (404 when unknown).
    pub async fn user_for_admin(&self, username: &str) -> AuthResult<UserRecord> {
        self.store
            .user_by_name(username)
            .await?
            .ok_or(AuthError::NotFound("user"))
    }

    /// A key made for `user` by an administrator (a recent second factor
    /// needed, as for every admin change).
    pub async fn create_access_key_for(
        &self,
        by: &Actor,
        user: &UserRecord,
        client: &Client,
    ) -> AuthResult<NewAccessKey> {
        self.require_recent_second_factor_of(by)?;
        self.add_access_key(user, client, &by_part(Some(by))).await
    }

    /// Checks an access key: its id and secret (the secret's keyed hash
    /// compared in constant time), that it is active and its user enabled.
    /// Charged to the throttle first (per key id and per address) and
    /// refunded when right, so a wrong secret counts as a wrong password does.
    pub async fn authenticate_access_key(
        &self,
        id: &str,
        secret: &str,
        client: &Client,
    ) -> AuthResult<(AccessKeyRecord, UserRecord)> {
        // Not an access key at all (an app's own Basic login passing through
        // a proxy): nothing to look up, nothing to guess, nothing counted.
        if !is_key_id(id) {
            return Err(AuthError::InvalidAccessKey);
        }
        let ticket = self
            .charge_attempt(key_charges(self, id, client), "", client)
            .await?;
        let found = if secret.len() <= MAX_SECRET_CHARS {
            self.store.access_key_with_user(id).await?
        } else {
            None
        };
        // An unknown id costs the same hash as a known one.
        let given = self.secrets.access_key_hash(id, secret);
        let accepted = found.filter(|(key, user)| {
            bool::from(key.secret_hash.ct_eq(&given)) && key.active && !user.disabled
        });
        let Some((key, user)) = accepted else {
            drop(ticket);
            return Err(AuthError::InvalidAccessKey);
        };
        self.refund_attempt(ticket, None).await;
        self.note_access_key_use(&key).await?;
        Ok((key, user))
    }

    /// Records a key's use, at most once a minute (as a session's).
    async fn note_access_key_use(&self, key: &AccessKeyRecord) -> AuthResult<()> {
        let now = self.clock.now();
        if key
            .last_used_at
            .is_none_or(|at: Timestamp| now - at >= TOUCH_INTERVAL_SECS)
        {
            self.store.touch_access_key(&key.id, now).await?;
        }
        Ok(())
    }
}

fn by_part(by: Option<&Actor>) -> String {
    by.map(|by| format!(" by={}", by.name()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_contract_shape_and_secrets_carry_240_bits() {
        let id = new_key_id();
        assert!(is_key_id(&id), "{id}");
        assert_eq!(id.len(), 20);
        assert_ne!(id, new_key_id());
        assert_eq!(new_secret().len(), 40);
        assert!(!is_key_id("TFAKabcdefghijklmnop"));
        assert!(!is_key_id("TFAK0000000000000000"));
        assert!(!is_key_id("XXAKAAAAAAAAAAAAAAAA"));
        assert!(!is_key_id("TFAKAAAA"));
    }
}
