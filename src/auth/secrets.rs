//! Secrets at rest: the key that seals TOTP seeds with AES-256-GCM (each
//! ciphertext bound to its device row by associated data) and keys the hashes
//! of recovery codes. Loaded at startup from the settings, the environment or
//! a key file made on first start, and proved against a sealed canary.

use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{Context, bail};
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::config::Settings;
use crate::store::SealingBootstrap;

pub const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 12;
/// First byte of every sealed value: the format, so it can change later.
const FORMAT_V1: u8 = 1;
const CANARY_AAD: &[u8] = b"twofold/canary";
const CANARY_TEXT: &[u8] = b"twofold sealed canary v1";
const SEED_AAD_PREFIX: &[u8] = b"twofold/totp-seed/";
const RECOVERY_KEY_LABEL: &[u8] = b"twofold/recovery-codes/v1";

/// The secrets key, ready to seal and open. `Debug` shows only where it came from.
#[derive(Clone)]
pub struct SecretsKey {
    cipher: Aes256Gcm,
    recovery_mac: Hmac<Sha256>,
    source: String,
}

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretsKey(from {})", self.source)
    }
}

fn hmac(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length")
}

impl SecretsKey {
    pub fn from_bytes(key: &[u8; KEY_BYTES], source: impl Into<String>) -> Self {
        let mut derive = hmac(key);
        derive.update(RECOVERY_KEY_LABEL);
        let recovery_key = derive.finalize().into_bytes();
        Self {
            cipher: Aes256Gcm::new_from_slice(key).expect("a 256-bit key"),
            recovery_mac: hmac(&recovery_key),
            source: source.into(),
        }
    }

    /// A fresh random key (tests, and the key file made on first start).
    pub fn generate_bytes() -> [u8; KEY_BYTES] {
        let mut key = [0u8; KEY_BYTES];
        rand::rng().fill_bytes(&mut key);
        key
    }

    /// Where the key came from, for error messages.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// `FORMAT_V1 ‖ nonce ‖ ciphertext+tag`, with a random 96-bit nonce.
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: plain, aad })
            .map_err(|_| anyhow::anyhow!("sealing a secret failed"))?;
        let mut out = Vec::with_capacity(1 + NONCE_BYTES + sealed.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what `seal` made with the same associated data; fails when the
    /// key, the data or the associated data differ.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
        let Some((&FORMAT_V1, rest)) = sealed.split_first() else {
            bail!("a sealed secret has an unknown format");
        };
        if rest.len() < NONCE_BYTES + 16 {
            bail!("a sealed secret is truncated");
        }
        let (nonce, message) = rest.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().expect("split at the nonce length");
        self.cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: message, aad })
            .map_err(|_| anyhow::anyhow!("a sealed secret does not open with this key"))
    }

    fn seed_aad(device_id: &str) -> Vec<u8> {
        [SEED_AAD_PREFIX, device_id.as_bytes()].concat()
    }

    /// Seals a TOTP seed, bound to its device row.
    pub fn seal_seed(&self, device_id: &str, seed: &[u8]) -> anyhow::Result<Vec<u8>> {
        self.seal(&Self::seed_aad(device_id), seed)
    }

    /// Opens a TOTP seed sealed for this device row (and no other).
    pub fn open_seed(&self, device_id: &str, sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
        self.open(&Self::seed_aad(device_id), sealed)
            .with_context(|| format!("opening the TOTP seed of device {device_id}"))
    }

    /// The keyed hash a recovery code is stored as: a stolen database alone
    /// can't be used to test guesses.
    pub fn recovery_code_hash(&self, normalised_code: &str) -> [u8; 32] {
        let mut mac = self.recovery_mac.clone();
        mac.update(normalised_code.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The key for this installation: `secrets.key` (or `TWOFOLD_SECRETS_KEY`),
    /// else the key file, made on first start. Refuses to start when the
    /// database holds secrets sealed with another key, or when its key file
    /// is gone.
    pub async fn load(settings: &Settings, store: &dyn SealingBootstrap) -> anyhow::Result<Self> {
        let database = settings.database_description();
        let key = if !settings.secrets.key.0.trim().is_empty() {
            let bytes = decode_key(&settings.secrets.key.0)
                .context("secrets.key (TWOFOLD_SECRETS_KEY) is not a usable key")?;
            Self::from_bytes(&bytes, "secrets.key")
        } else {
            let path = settings.key_file();
            let source = format!("the key file {}", path.display());
            let bytes = match read_key_file(&path)? {
                Some(bytes) => bytes,
                None if store.sealed_canary().await?.is_some() => bail!(
                    "the database {} holds secrets sealed with a key, but {source} is missing. \
                     Restore that file (or give the key as secrets.key / TWOFOLD_SECRETS_KEY); \
                     a new key could not open them",
                    database
                ),
                None => create_key_file(&path)?,
            };
            Self::from_bytes(&bytes, source)
        };
        key.prove(store, &database).await?;
        Ok(key)
    }

    /// Opens the canary, or, on a database that never had a key, seals the
    /// seeds stored before sealing existed and writes the canary.
    async fn prove(&self, store: &dyn SealingBootstrap, database: &str) -> anyhow::Result<()> {
        let wrong_key = || {
            anyhow::anyhow!(
                "the secrets key from {} does not open the secrets sealed in {}: it is not \
                 the key they were sealed with. Give the right key (key file, secrets.key or \
                 TWOFOLD_SECRETS_KEY)",
                self.source,
                database
            )
        };
        let canary = match store.sealed_canary().await? {
            Some(canary) => canary,
            None => {
                let canary = self.seal(CANARY_AAD, CANARY_TEXT)?;
                let key = self.clone();
                let seal = Box::new(move |id: &str, seed: &[u8]| key.seal_seed(id, seed));
                if store.adopt_key(canary, seal).await? {
                    return Ok(());
                }
                // Another process adopted a key at the same moment: check it.
                store.sealed_canary().await?.ok_or_else(wrong_key)?
            }
        };
        match self.open(CANARY_AAD, &canary) {
            Ok(text) if text == CANARY_TEXT => Ok(()),
            _ => Err(wrong_key()),
        }
    }
}

/// A key as text: base64 (standard or URL-safe, padding optional) of 32 bytes.
fn decode_key(text: &str) -> anyhow::Result<[u8; KEY_BYTES]> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let text = text.trim();
    let bytes = STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
        .map_err(|_| {
            anyhow::anyhow!("a key is base64 of 32 random bytes, e.g. `openssl rand -base64 32`")
        })?;
    bytes.try_into().map_err(|bytes: Vec<u8>| {
        anyhow::anyhow!(
            "a key is 32 bytes (base64 of 32 random bytes), this one has {}",
            bytes.len()
        )
    })
}

fn read_key_file(path: &Path) -> anyhow::Result<Option<[u8; KEY_BYTES]>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            warn_if_readable_by_others(path);
            decode_key(&text)
                .with_context(|| format!("the key file {} is not a usable key", path.display()))
                .map(Some)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading the key file {}", path.display())),
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            "the secrets key file can be read by other users; chmod 600 it"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// Writes a new random key, readable by its owner only. When another process
/// made the file first, its key is used.
fn create_key_file(path: &Path) -> anyhow::Result<[u8; KEY_BYTES]> {
    let key = SecretsKey::generate_bytes();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => {
            let text = base64::engine::general_purpose::STANDARD.encode(key);
            file.write_all(format!("{text}\n").as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("writing the key file {}", path.display()))?;
            tracing::info!(path = %path.display(), "created a new secrets key file; back it up");
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_key_file(path)?
            .ok_or_else(|| anyhow::anyhow!("the key file {} vanished", path.display())),
        Err(e) => Err(e).with_context(|| format!("creating the key file {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretsKey {
        SecretsKey::from_bytes(&SecretsKey::generate_bytes(), "test")
    }

    #[test]
    fn a_sealed_seed_opens_for_its_own_device_only() {
        let key = key();
        let seed = b"12345678901234567890";
        let sealed = key.seal_seed("device-a", seed).unwrap();
        assert!(!sealed.windows(seed.len()).any(|w| w == seed));
        assert_eq!(key.open_seed("device-a", &sealed).unwrap(), seed);
        assert!(key.open_seed("device-b", &sealed).is_err());
    }

    #[test]
    fn another_key_or_a_flipped_bit_does_not_open() {
        let (a, b) = (key(), key());
        let mut sealed = a.seal(b"x", b"secret").unwrap();
        assert!(b.open(b"x", &sealed).is_err());
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(a.open(b"x", &sealed).is_err());
        assert!(a.open(b"x", &[FORMAT_V1]).is_err());
        assert!(a.open(b"x", &[]).is_err());
    }

    #[test]
    fn sealing_twice_gives_different_ciphertexts() {
        let key = key();
        assert_ne!(
            key.seal(b"", b"same").unwrap(),
            key.seal(b"", b"same").unwrap()
        );
    }

    #[test]
    fn keys_are_read_as_base64_of_32_bytes() {
        let bytes = SecretsKey::generate_bytes();
        let text = base64::engine::general_purpose::STANDARD.encode(bytes);
        assert_eq!(decode_key(&format!("{text}\n")).unwrap(), bytes);
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(decode_key(&url).unwrap(), bytes);
        assert!(decode_key("c2hvcnQ=").is_err());
        assert!(decode_key("not base64 at all!").is_err());
    }

    #[test]
    fn recovery_hashes_depend_on_the_key() {
        let bytes = SecretsKey::generate_bytes();
        let (a, same) = (
            SecretsKey::from_bytes(&bytes, "a"),
            SecretsKey::from_bytes(&bytes, "b"),
        );
        assert_eq!(
            a.recovery_code_hash("abcd"),
            same.recovery_code_hash("abcd")
        );
        assert_ne!(
            a.recovery_code_hash("abcd"),
            key().recovery_code_hash("abcd")
        );
        assert_ne!(a.recovery_code_hash("abcd"), a.recovery_code_hash("abce"));
    }

    #[cfg(unix)]
    #[test]
    fn a_new_key_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let made = create_key_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(read_key_file(&path).unwrap(), Some(made));
        // A second start reads the same key instead of replacing it.
        assert_eq!(create_key_file(&path).unwrap(), made);
    }
}
