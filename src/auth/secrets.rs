//! Secrets at rest: the key that seals TOTP seeds with AES-256-GCM (each
//! ciphertext bound to its device row by associated data) and keys the hashes
//! of recovery codes. Loaded at startup from the settings, the environment or
//! a key file made on first start, proved against a sealed canary, and
//! replaced by `twofold secrets rotate` while servers keep running.

use std::path::Path;
use std::sync::{Arc, RwLock};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{Context, bail};
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use super::key_files::{FileStamp, KeyFiles, read_key_file, write_private};
use crate::config::Settings;
use crate::store::{CountedEvent, SealedItem, SealingBootstrap};

pub const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 12;
/// First byte of every sealed value: the format, so it can change later.
const FORMAT_V1: u8 = 1;
const CANARY_AAD: &[u8] = b"twofold/canary";
const CANARY_TEXT: &[u8] = b"twofold sealed canary v1";
const SEED_AAD_PREFIX: &[u8] = b"twofold/totp-seed/";
const RECOVERY_KEY_AAD: &[u8] = b"twofold/recovery-key";
const SIGNING_KEY_AAD_PREFIX: &[u8] = b"twofold/oidc-signing-key/";
const RECOVERY_KEY_LABEL: &[u8] = b"twofold/recovery-codes/v1";
/// Test-only: `twofold secrets rotate` sleeps this long (milliseconds) per
/// re-sealed value, and twenty times as long after committing, so a test can
/// kill it at either point.
/// Outside the `TWOFOLD_` namespace on purpose: it is no setting.
pub const ROTATE_PAUSE_VARIABLE: &str = "SECRETS_ROTATE_TEST_PAUSE_MS";

/// One 256-bit key, ready to seal and open.
#[derive(Clone)]
struct Key {
    bytes: [u8; KEY_BYTES],
    cipher: Aes256Gcm,
}

impl Key {
    fn new(bytes: [u8; KEY_BYTES]) -> Self {
        Self {
            bytes,
            cipher: Aes256Gcm::new_from_slice(&bytes).expect("a 256-bit key"),
        }
    }

    fn seal(&self, aad: &[u8], plain: &[u8]) -> anyhow::Result<Vec<u8>> {
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

    fn open(&self, aad: &[u8], sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
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

    fn opens_canary(&self, canary: &[u8]) -> bool {
        self.open(CANARY_AAD, canary)
            .is_ok_and(|text| text == CANARY_TEXT)
    }

    /// The recovery-code key of an installation whose key was never rotated.
    fn derived_recovery_key(&self) -> [u8; 32] {
        let mut derive = hmac(&self.bytes);
        derive.update(RECOVERY_KEY_LABEL);
        derive.finalize().into_bytes().into()
    }
}

/// The keys a process can open with: the one it seals with first, then keys
/// it learnt of (the one a rotation replaced, or one it is adopting).
struct Ring {
    current: Key,
    others: Vec<Key>,
    /// The key file as last read, to notice a rotation.
    stamp: Option<FileStamp>,
}

impl Ring {
    fn keys(&self) -> impl Iterator<Item = &Key> {
        std::iter::once(&self.current).chain(&self.others)
    }

    fn learn(&mut self, key: Key) {
        if self.keys().all(|k| k.bytes != key.bytes) {
            self.others.push(key);
        }
    }

    fn make_current(&mut self, key: Key) {
        if key.bytes == self.current.bytes {
            return;
        }
        self.others.retain(|k| k.bytes != key.bytes);
        let old = std::mem::replace(&mut self.current, key);
        self.others.push(old);
    }
}

/// The secrets key, ready to seal and open. Clones share one key ring, so a
/// rotation noticed by one is used by all. `Debug` shows only where it came
/// from.
#[derive(Clone)]
pub struct SecretsKey {
    ring: Arc<RwLock<Ring>>,
    recovery_mac: Hmac<Sha256>,
    recovery_key: [u8; 32],
    source: String,
    /// Set when the key comes from a key file, which is then followed.
    files: Option<KeyFiles>,
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
        let key = Key::new(*key);
        let recovery_key = key.derived_recovery_key();
        Self::assemble(key, recovery_key, source.into(), None)
    }

    fn assemble(key: Key, recovery_key: [u8; 32], source: String, files: Option<KeyFiles>) -> Self {
        let stamp = files.as_ref().and_then(KeyFiles::stamp);
        Self {
            ring: Arc::new(RwLock::new(Ring {
                current: key,
                others: Vec::new(),
                stamp,
            })),
            recovery_mac: hmac(&recovery_key),
            recovery_key,
            source,
            files,
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

    fn current(&self) -> Key {
        self.ring.read().expect("the key ring").current.clone()
    }

    /// `FORMAT_V1 ‖ nonce ‖ ciphertext+tag`, with a random 96-bit nonce,
    /// under the newest key (a rotation by another process is noticed first).
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> anyhow::Result<Vec<u8>> {
        self.follow_key_file(false);
        self.current().seal(aad, plain)
    }

    /// Opens what `seal` made with the same associated data, with any key of
    /// the ring; when none opens it, the key files are read again (another
    /// process may have rotated the key) and tried. Fails when the key, the
    /// data or the associated data differ.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
        if let Some(plain) = self.open_with_ring(aad, sealed) {
            return Ok(plain);
        }
        if self.follow_key_file(true)
            && let Some(plain) = self.open_with_ring(aad, sealed)
        {
            return Ok(plain);
        }
        // The error the current key gives (format, truncation or key).
        self.current().open(aad, sealed)
    }

    fn open_with_ring(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let ring = self.ring.read().expect("the key ring");
        ring.keys().find_map(|key| key.open(aad, sealed).ok())
    }

    /// Reads the key files again when `secret.key` changed (or, with
    /// `anyway`, when a value did not open: a rotation may have committed
    /// before renaming its files). Returns whether a key was learnt.
    fn follow_key_file(&self, anyway: bool) -> bool {
        let Some(files) = &self.files else {
            return false;
        };
        let stamp = files.stamp();
        if !anyway && stamp == self.ring.read().expect("the key ring").stamp {
            return false;
        }
        let current = read_key_file(&files.current).ok().flatten();
        let adopting = read_key_file(&files.new_key()).ok().flatten();
        let mut ring = self.ring.write().expect("the key ring");
        let before = ring.others.len();
        let changed_current = current.is_some_and(|bytes| bytes != ring.current.bytes);
        if let Some(bytes) = adopting {
            ring.learn(Key::new(bytes));
        }
        if let Some(bytes) = current {
            ring.make_current(Key::new(bytes));
        }
        ring.stamp = stamp;
        if changed_current {
            tracing::info!(file = %files.current.display(), "the secrets key was rotated; using the new key");
        }
        changed_current || ring.others.len() != before
    }

    fn seed_aad(device_id: &str) -> Vec<u8> {
        [SEED_AAD_PREFIX, device_id.as_bytes()].concat()
    }

    fn item_aad(item: SealedItem<'_>) -> Vec<u8> {
        match item {
            SealedItem::Canary => CANARY_AAD.to_vec(),
            SealedItem::Seed { device_id } => Self::seed_aad(device_id),
            SealedItem::RecoveryKey => RECOVERY_KEY_AAD.to_vec(),
            SealedItem::SigningKey { kid } => Self::signing_key_aad(kid),
        }
    }

    fn signing_key_aad(kid: &str) -> Vec<u8> {
        [SIGNING_KEY_AAD_PREFIX, kid.as_bytes()].concat()
    }

    /// Seals an OpenID Connect signing key, bound to its key id.
    pub fn seal_signing_key(&self, kid: &str, der: &[u8]) -> anyhow::Result<Vec<u8>> {
        self.seal(&Self::signing_key_aad(kid), der)
    }

    /// Opens a signing key sealed for this key id (and no other).
    pub fn open_signing_key(&self, kid: &str, sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
        self.open(&Self::signing_key_aad(kid), sealed)
            .with_context(|| format!("opening the signing key {kid}"))
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

    /// The keyed hash an access key's secret is stored as: under the
    /// recovery-code key (which outlives a rotation of the secrets key),
    /// with a label and the key's id so it can't stand for a code or
    /// another key's secret.
    pub fn access_key_hash(&self, key_id: &str, secret: &str) -> [u8; 32] {
        let mut mac = self.recovery_mac.clone();
        mac.update(b"twofold access key\0");
        mac.update(key_id.as_bytes());
        mac.update(b"\0");
        mac.update(secret.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The key for this installation: `secrets.key` (or `TWOFOLD_SECRETS_KEY`),
    /// else the key file, made on first start. A rotation interrupted by a
    /// crash is finished (or dropped, if it never committed), values sealed
    /// with the key a finished rotation replaced are sealed again, and that
    /// key's file is then removed. Refuses to start when the database holds
    /// secrets sealed with another key, or when its key file is gone.
    pub async fn load(settings: &Settings, store: &dyn SealingBootstrap) -> anyhow::Result<Self> {
        let database = settings.database_description();
        let key = if !settings.secrets.key.0.trim().is_empty() {
            let bytes = decode_key(&settings.secrets.key.0)
                .context("secrets.key (TWOFOLD_SECRETS_KEY) is not a usable key")?;
            Self::from_bytes(&bytes, "secrets.key")
        } else {
            let files = KeyFiles::new(settings.key_file());
            let source = format!("the key file {}", files.current.display());
            let bytes = match store.sealed_canary().await? {
                Some(canary) => choose_by_canary(&files, &canary, &source, &database)?,
                None => match read_key_file(&files.current)? {
                    Some(bytes) => bytes,
                    None => create_key_file(&files.current)?,
                },
            };
            let key = Key::new(bytes);
            let recovery_key = key.derived_recovery_key();
            Self::assemble(key, recovery_key, source, Some(files))
        };
        key.prove(store, &database).await?;
        let key = key.with_stored_recovery_key(store).await?;
        key.reseal_what_the_old_key_sealed(store).await?;
        Ok(key)
    }

    /// Uses the recovery-code key the database keeps, once a rotation stored
    /// one (before that, the one derived from the secrets key is right).
    async fn with_stored_recovery_key(self, store: &dyn SealingBootstrap) -> anyhow::Result<Self> {
        let Some(sealed) = store.sealed_recovery_key().await? else {
            return Ok(self);
        };
        let bytes: [u8; 32] = self
            .open(RECOVERY_KEY_AAD, &sealed)
            .context("opening the recovery-code key")?
            .try_into()
            .map_err(|_| anyhow::anyhow!("the stored recovery-code key has the wrong length"))?;
        Ok(Self {
            recovery_mac: hmac(&bytes),
            recovery_key: bytes,
            ..self
        })
    }

    /// After a finished rotation: a server that had not yet noticed it may
    /// have sealed a value with the old key. Seals everything under the
    /// current key in one transaction, then forgets the old key's file.
    async fn reseal_what_the_old_key_sealed(
        &self,
        store: &dyn SealingBootstrap,
    ) -> anyhow::Result<()> {
        let Some(files) = &self.files else {
            return Ok(());
        };
        let Some(old) = read_key_file(&files.old_key())? else {
            return Ok(());
        };
        self.ring
            .write()
            .expect("the key ring")
            .learn(Key::new(old));
        let key = self.clone();
        store
            .reseal_all(
                Box::new(move |item, sealed| key.reseal_item(&key, item, sealed)),
                None,
            )
            .await
            .context("sealing again what the old secrets key sealed")?;
        files.forget_old()?;
        tracing::info!(file = %files.old_key().display(), "every secret opens with the new key; removed the old key file");
        Ok(())
    }

    /// Opens one value with this key ring and seals it under `into`'s
    /// current key; the recovery-code key, when none is stored, is this
    /// key's.
    fn reseal_item(
        &self,
        into: &SecretsKey,
        item: SealedItem<'_>,
        sealed: Option<&[u8]>,
    ) -> anyhow::Result<Vec<u8>> {
        let aad = Self::item_aad(item);
        let plain = match sealed {
            Some(sealed) => self.open(&aad, sealed)?,
            None => self.recovery_key.to_vec(),
        };
        into.current().seal(&aad, &plain)
    }

    /// `twofold secrets rotate`: a new key file, every sealed value sealed
    /// again under it in one store transaction, then the files renamed (the
    /// old key kept as `secret.key.old`). Returns how many values were
    /// re-sealed. A key given as `secrets.key` / `TWOFOLD_SECRETS_KEY` is
    /// refused: the new key would have to be put where the operator keeps
    /// the setting before anything restarts, and a key printed to a terminal
    /// is one lost.
    pub async fn rotate(
        settings: &Settings,
        store: &dyn SealingBootstrap,
        event: CountedEvent,
    ) -> anyhow::Result<u64> {
        if !settings.secrets.key.0.trim().is_empty() {
            bail!(
                "the secrets key is given as secrets.key (or TWOFOLD_SECRETS_KEY), which twofold \
                 can't rewrite: put it in a key file (secrets.key_file) and remove the setting to \
                 rotate it"
            );
        }
        let old = Self::load(settings, store).await?;
        let files = old.files.clone().expect("a key from a key file");
        let bytes = Self::generate_bytes();
        files.write_new(&bytes)?;
        let new = Self::assemble(
            Key::new(bytes),
            old.recovery_key,
            format!("the key file {}", files.current.display()),
            None,
        );
        let pause = std::env::var(ROTATE_PAUSE_VARIABLE)
            .ok()
            .and_then(|ms| ms.parse().ok())
            .map(std::time::Duration::from_millis);
        let resealed = store
            .reseal_all(
                Box::new(move |item, sealed| {
                    if let Some(pause) = pause {
                        std::thread::sleep(pause);
                    }
                    old.reseal_item(&new, item, sealed)
                }),
                Some(event),
            )
            .await
            .context("sealing the secrets under the new key")?;
        if let Some(pause) = pause {
            eprintln!("re-sealed {resealed} secrets; renaming the key files");
            std::thread::sleep(pause * 20);
        }
        files.finish_rotation()?;
        Ok(resealed)
    }

    /// Opens the canary, or, on a database that never had a key, seals the
    /// seeds stored before sealing existed and writes the canary.
    async fn prove(&self, store: &dyn SealingBootstrap, database: &str) -> anyhow::Result<()> {
        let wrong_key = || wrong_key(&self.source, database);
        let canary = match store.sealed_canary().await? {
            Some(canary) => canary,
            None => {
                let current = self.current();
                let canary = current.seal(CANARY_AAD, CANARY_TEXT)?;
                let seal =
                    Box::new(move |id: &str, seed: &[u8]| current.seal(&Self::seed_aad(id), seed));
                if store.adopt_key(canary, seal).await? {
                    return Ok(());
                }
                // Another process adopted a key at the same moment: check it.
                store.sealed_canary().await?.ok_or_else(wrong_key)?
            }
        };
        if self.current().opens_canary(&canary) {
            Ok(())
        } else {
            Err(wrong_key())
        }
    }
}

fn wrong_key(source: &str, database: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "the secrets key from {source} does not open the secrets sealed in {database}: it is \
         not the key they were sealed with. Give the right key (key file, secrets.key or \
         TWOFOLD_SECRETS_KEY)"
    )
}

/// The key file's key, or, when a rotation committed but was interrupted
/// before renaming its files, the adopted key (the rotation is then
/// finished). A `secret.key.new` whose rotation never committed is removed.
fn choose_by_canary(
    files: &KeyFiles,
    canary: &[u8],
    source: &str,
    database: &str,
) -> anyhow::Result<[u8; KEY_BYTES]> {
    let current = read_key_file(&files.current)?;
    let adopting = read_key_file(&files.new_key())?;
    if let Some(bytes) = current
        && Key::new(bytes).opens_canary(canary)
    {
        if adopting.is_some() {
            files.forget_new()?;
            tracing::info!("a key rotation that never committed was dropped");
        }
        return Ok(bytes);
    }
    if let Some(bytes) = adopting
        && Key::new(bytes).opens_canary(canary)
    {
        files.finish_rotation()?;
        tracing::info!("finished a key rotation that was interrupted after it committed");
        return Ok(bytes);
    }
    if current.is_none() {
        bail!(
            "the database {database} holds secrets sealed with a key, but {source} is missing. \
             Restore that file (or give the key as secrets.key / TWOFOLD_SECRETS_KEY); \
             a new key could not open them"
        );
    }
    Err(wrong_key(source, database))
}

/// A key as text: base64 (standard or URL-safe, padding optional) of 32 bytes.
pub(super) fn decode_key(text: &str) -> anyhow::Result<[u8; KEY_BYTES]> {
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

/// Writes a new random key, readable by its owner only. When another process
/// made the file first, its key is used.
fn create_key_file(path: &Path) -> anyhow::Result<[u8; KEY_BYTES]> {
    let key = SecretsKey::generate_bytes();
    match write_private(path, &key) {
        Ok(()) => {
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
