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
