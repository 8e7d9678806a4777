//! The secrets key on disk: `secret.key`, and during a rotation
//! `secret.key.new` (the key being adopted) and `secret.key.old` (the key
//! replaced). Each file is written whole and synced, with its folder, before
//! the next step relies on it, so a crash at any point leaves a set of files
//! a start can finish from.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine;

use super::secrets::{KEY_BYTES, decode_key};

/// The key file and its rotation companions.
#[derive(Debug, Clone)]
pub struct KeyFiles {
    pub current: PathBuf,
}

/// Enough of a file's metadata to notice it was replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    modified: Option<std::time::SystemTime>,
    len: u64,
    #[cfg(unix)]
    inode: u64,
}

impl KeyFiles {
    pub fn new(current: PathBuf) -> Self {
        Self { current }
    }

    fn with_suffix(&self, suffix: &str) -> PathBuf {
        let mut name = self.current.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    }

    /// The key being adopted by a rotation that may not have committed yet.
    pub fn new_key(&self) -> PathBuf {
        self.with_suffix(".new")
    }

    /// The key a finished rotation replaced.
    pub fn old_key(&self) -> PathBuf {
        self.with_suffix(".old")
    }

    pub fn stamp(&self) -> Option<FileStamp> {
        let meta = std::fs::metadata(&self.current).ok()?;
        Some(FileStamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            #[cfg(unix)]
            inode: std::os::unix::fs::MetadataExt::ino(&meta),
        })
    }

    /// Writes the key a rotation will adopt (replacing the file a rotation
    /// that never committed left), synced before the re-seal begins.
    pub fn write_new(&self, key: &[u8; KEY_BYTES]) -> anyhow::Result<()> {
        let path = self.new_key();
        remove_if_present(&path)?;
        write_private(&path, key)?;
        sync_folder(&path)
    }

    /// After the re-seal committed: `secret.key` → `secret.key.old`, then
    /// `secret.key.new` → `secret.key`. Each rename is atomic, and a start
    /// finds the key by the canary whichever of them happened.
    pub fn finish_rotation(&self) -> anyhow::Result<()> {
        let (new, old) = (self.new_key(), self.old_key());
        if self.current.exists() {
            std::fs::rename(&self.current, &old)
                .with_context(|| format!("keeping the old key as {}", old.display()))?;
        }
        std::fs::rename(&new, &self.current)
            .with_context(|| format!("moving {} to {}", new.display(), self.current.display()))?;
        sync_folder(&self.current)
    }

    /// Removes the old key once nothing is sealed with it.
    pub fn forget_old(&self) -> anyhow::Result<()> {
        remove_if_present(&self.old_key())?;
        sync_folder(&self.current)
    }

    /// Removes the key of a rotation that never committed.
    pub fn forget_new(&self) -> anyhow::Result<()> {
        remove_if_present(&self.new_key())?;
        sync_folder(&self.current)
    }
}

/// The key in a file; `None` when there is no such file.
pub fn read_key_file(path: &Path) -> anyhow::Result<Option<[u8; KEY_BYTES]>> {
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

fn remove_if_present(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

/// Creates `path` (which must not exist) readable by its owner only, with
/// the key as base64, and syncs it. `AlreadyExists` is passed on.
pub fn write_private(path: &Path, key: &[u8; KEY_BYTES]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    let text = base64::engine::general_purpose::STANDARD.encode(key);
    file.write_all(format!("{text}\n").as_bytes())?;
    file.sync_all()
}

/// Makes a rename or a new file in the folder durable.
fn sync_folder(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let folder = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::File::open(folder)
            .and_then(|dir| dir.sync_all())
            .with_context(|| format!("syncing the folder {}", folder.display()))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
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
