//! The database on disk: the file and SQLite's `-wal` and `-shm` files beside
//! it are readable by the server's user only, in a folder only they can open,
//! whichever command created them.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::cli::add_user_with_cli;
use crate::helpers::spawn_app;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The database file and its write-ahead log and shared-memory files.
fn database_files(folder: &Path) -> [std::path::PathBuf; 3] {
    ["twofold.db", "twofold.db-wal", "twofold.db-shm"].map(|name| folder.join(name))
}

#[tokio::test]
async fn the_server_keeps_its_database_private() {
    if crate::helpers::skipped_unless_sqlite("the file modes") {
        return;
    }
    let app = spawn_app().await;
    // Writes over HTTP, so the write-ahead log is in use.
    let (c, _, _) = app.signed_in_user_with_totp("alice").await;
    assert_eq!(app.get(&c, "/api/v1/me").await.status(), 200);

    for file in database_files(app.data.path()) {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
}

#[test]
fn a_database_created_by_the_cli_is_private_too() {
    if crate::helpers::skipped_unless_sqlite("the file modes") {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let folder = data.path().join("twofold-data");
    add_user_with_cli(&folder, "bob");
    assert_eq!(mode(&folder), 0o700, "the data folder");
    assert_eq!(mode(&folder.join("twofold.db")), 0o600);
    for file in database_files(&folder) {
        if file.exists() {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
    }
}

/// Makes `folder` with the loose mode many `mkdir`s leave (0755).
fn loose_folder(parent: &Path) -> std::path::PathBuf {
    let folder = parent.join("twofold-data");
    std::fs::create_dir(&folder).unwrap();
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(mode(&folder), 0o755);
    folder
}

#[test]
fn the_cli_tightens_a_loose_data_folder() {
    if crate::helpers::skipped_unless_sqlite("tightening the data folder") {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let folder = loose_folder(data.path());
    add_user_with_cli(&folder, "bob");
    assert_eq!(mode(&folder), 0o700);
}

#[tokio::test]
async fn the_server_tightens_a_loose_data_folder() {
    if crate::helpers::skipped_unless_sqlite("tightening the data folder") {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let folder = loose_folder(data.path());
    let app =
        crate::helpers::spawn_app_with(|settings| settings.storage.path = folder.clone()).await;
    assert_eq!(mode(&folder), 0o700);
    assert_eq!(
        app.get(&crate::helpers::client(), "/healthz")
            .await
            .status(),
        200
    );
}

/// A folder whose mode can't be changed (procfs refuses chmod, even to
/// root): the command refuses to start, saying why on one line.
#[test]
fn a_loose_data_folder_that_cannot_be_tightened_stops_the_start() {
    if crate::helpers::skipped_unless_sqlite("tightening the data folder") {
        return;
    }
    let folder = Path::new("/proc/self");
    assert_ne!(mode(folder) & 0o077, 0);
    let answer = crate::cli::twofold(folder, &["user", "list"], "");
    assert!(!answer.status.success());
    let stderr = String::from_utf8_lossy(&answer.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("the data folder /proc/self is open to other users (mode 555)")
            && stderr.contains("chmod 700"),
        "{stderr}"
    );
}
