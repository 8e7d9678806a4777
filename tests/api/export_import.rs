//! `twofold export` and `twofold import`, run as the operator runs them: a
//! move from SQLite to PostgreSQL (and back) after which everyone signs in
//! as before with the same secrets key, and refusals (a store that has
//! users, a truncated, miscounted or edited file) that write nothing. The
//! moves between backends run in the `TEST_STORE=postgres` pass, which has a
//! cluster; the refusals run on the suite's store in both passes.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};
use twofold::config::{KeyText, Settings, StorageBackend};

use crate::helpers::{
    PASSWORD, TestApp, TestStore, client, postgres_database_for, spawn_app, spawn_app_with,
    store_env,
};
use crate::protection_helpers::make_recovery_codes;
use crate::soft_key::{Key, sign_in_with_key, signed_in_user_with_key};

/// Runs the binary with exactly this store configuration.
fn twofold(env: &[(&'static str, String)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_twofold"))
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("TWOFOLD_STORAGE_BACKEND")
        .env_remove("TWOFOLD_STORAGE_URL")
        .env_remove("TWOFOLD_SECRETS_KEY")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("the binary runs")
}

fn sqlite_env(data: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("TWOFOLD_STORAGE_PATH", data.display().to_string()),
        ("TWOFOLD_STORAGE_BACKEND", "sqlite".into()),
    ]
}

fn postgres_env(data: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("TWOFOLD_STORAGE_PATH", data.display().to_string()),
        ("TWOFOLD_STORAGE_BACKEND", "postgres".into()),
        ("TWOFOLD_STORAGE_URL", postgres_database_for(data)),
    ]
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).trim().to_owned()
}

fn succeeds(output: Output) -> String {
    assert!(output.status.success(), "{}", stderr(&output));
    stderr(&output)
}

/// Refused with a one-line reason that mentions `reason`.
fn refused(output: Output, reason: &str) {
    assert!(!output.status.success(), "accepted: {}", stderr(&output));
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "one line: {message}");
    assert!(message.contains(reason), "{message:?} names {reason:?}");
}

fn export(env: &[(&'static str, String)], file: &Path) -> Vec<Value> {
    let said = succeeds(twofold(env, &["export", file.to_str().unwrap()]));
    assert!(said.starts_with("exported "), "{said}");
    lines_of(file)
}

fn lines_of(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The secrets key a server made in its data folder.
fn key_of(app: &TestApp) -> String {
    std::fs::read_to_string(app.settings.key_file()).expect("the server made a key file")
}

/// The people of the move: alice with an app and recovery codes, bob with
/// a security key, carol with both.
struct Enrolled {
    alice_secret: String,
    alice_codes: Vec<String>,
    bob_key: Key,
    carol_secret: String,
    carol_key: Key,
}

async fn enrol_everyone(app: &TestApp) -> Enrolled {
    let (alice, alice_secret, _) = app.signed_in_user_with_totp("alice").await;
    let alice_codes = make_recovery_codes(app, &alice).await;
    let mut bob_key = Key::new();
    signed_in_user_with_key(app, "bob", &mut bob_key).await;
    let (carol, carol_secret, _) = app.signed_in_user_with_totp("carol").await;
    let mut carol_key = Key::new();
    crate::soft_key::add_key(app, &carol, &mut carol_key, "desk key").await;
    // One sign-in with the key, so its counter is above 0 when it moves.
    sign_in_with_key(app, "carol", &mut carol_key).await;
    Enrolled {
        alice_secret,
        alice_codes,
        bob_key,
        carol_secret,
        carol_key,
    }
}

/// Everyone signs in on `app` with their old password and factors.
async fn everyone_signs_in_as_before(app: &TestApp, people: &mut Enrolled) {
    let alice = app.sign_in_with_totp("alice", &people.alice_secret).await;
    assert_eq!(app.get(&alice, "/api/v1/verify").await.status(), 200);
    let me: Value = app.get(&alice, "/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["username"], "alice", "{me}");

    let c = client();
    assert_eq!(app.login(&c, "alice", PASSWORD).await.status(), 200);
    let answer = app
        .post(
            &c,
            "/api/v1/login/recovery-code",
            json!({"code": people.alice_codes[0]}),
        )
        .await;
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());

    let bob = sign_in_with_key(app, "bob", &mut people.bob_key).await;
    assert_eq!(app.get(&bob, "/api/v1/verify").await.status(), 200);
    app.sign_in_with_totp("carol", &people.carol_secret).await;
    sign_in_with_key(app, "carol", &mut people.carol_key).await;

    let wrong = app.login(&client(), "alice", "not the password").await;
    assert_eq!(wrong.status(), 401);
}

/// A server on the imported store, with the old server's secrets key, its
/// clock past the time steps already used (as real time would be).
async fn serve_imported(
    from: &TestApp,
    data: &Path,
    backend: StorageBackend,
    key: &str,
) -> TestApp {
    let (data, key) = (data.to_path_buf(), key.to_owned());
    let app = spawn_app_with(move |settings: &mut Settings| {
        settings.storage.path = data.clone();
        settings.storage.backend = backend;
        if backend == StorageBackend::Postgres {
            settings.storage.url = KeyText(postgres_database_for(&data));
        }
        settings.secrets.key = KeyText(key);
    })
    .await;
    app.clock.advance(from.now() - app.now() + 30);
    app
}

fn skipped_without_postgres() -> bool {
    let skip = TestStore::current() != TestStore::Postgres;
    if skip {
        eprintln!("skipped on the SQLite pass: a move between backends needs PostgreSQL");
    }
    skip
}

#[tokio::test]
async fn users_moved_from_sqlite_to_postgresql_sign_in_with_their_old_password_app_key_and_code() {
    if skipped_without_postgres() {
        return;
    }
    let old = spawn_app_with(|s| s.storage.backend = StorageBackend::Sqlite).await;
    let mut people = enrol_everyone(&old).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("twofold.export");

    // Exported while the old server runs.
    let lines = export(&sqlite_env(old.data.path()), &file);
    let header = &lines[0];
    assert_eq!(header["twofold_export"], 1, "{header}");
    assert_eq!(header["backend"], "sqlite");
    let migrations = std::fs::read_dir("migrations/sqlite").unwrap().count();
    assert_eq!(
        header["schema_version"], migrations,
        "the SQLite schema's version"
    );
    assert!(header["exported_at"].as_str().unwrap().ends_with('Z'));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with(r#"{"twofold_export":1,"#), "{text}");
    let records = lines.len() - 2;
    assert_eq!(
        lines.last().unwrap(),
        &json!({ "twofold_export_end": records })
    );
    // Seeds stay sealed and codes hashed: none of them is in the file.
    assert!(!text.contains(&people.alice_secret));
    assert!(!text.contains(&people.alice_codes[0]));
    assert!(!text.contains("session"), "no sessions: {text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the file holds password hashes");
    }

    let new_data = tempfile::tempdir().unwrap();
    let said = succeeds(twofold(
        &postgres_env(new_data.path()),
        &["import", file.to_str().unwrap()],
    ));
    assert!(
        said.contains(&format!("imported {records} records")),
        "{said}"
    );

    let new = serve_imported(
        &old,
        new_data.path(),
        StorageBackend::Postgres,
        &key_of(&old),
    )
    .await;
    everyone_signs_in_as_before(&new, &mut people).await;
    // And new users get ids after the moved ones.
    new.create_user("dave", false).await;
}

#[tokio::test]
async fn users_moved_from_postgresql_to_sqlite_sign_in_as_before() {
    if skipped_without_postgres() {
        return;
    }
    let old = spawn_app().await;
    assert_eq!(old.settings.storage.backend, StorageBackend::Postgres);
    let mut people = enrol_everyone(&old).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("twofold.export");
    let lines = export(&postgres_env(old.data.path()), &file);
    assert_eq!(lines[0]["backend"], "postgres");

    let new_data = tempfile::tempdir().unwrap();
    succeeds(twofold(
        &sqlite_env(new_data.path()),
        &["import", file.to_str().unwrap()],
    ));
    let new = serve_imported(&old, new_data.path(), StorageBackend::Sqlite, &key_of(&old)).await;
    everyone_signs_in_as_before(&new, &mut people).await;
}

#[tokio::test]
async fn a_moved_store_refuses_to_serve_with_another_secrets_key() {
    let old = spawn_app().await;
    old.signed_in_user_with_totp("alice").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("twofold.export");
    export(&store_env(old.data.path()), &file);
    let new_data = tempfile::tempdir().unwrap();
    succeeds(twofold(
        &store_env(new_data.path()),
        &["import", file.to_str().unwrap()],
    ));
    let other_key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let output = twofold(
        &[
            store_env(new_data.path()),
            vec![
                ("TWOFOLD_SECRETS_KEY", other_key.to_owned()),
                ("TWOFOLD_LOG_LEVEL", "warn".to_owned()),
            ],
        ]
        .concat(),
        &["serve"],
    );
    refused(output, "does not open the secrets");
}

/// An export of a store with two users, and a fresh data folder to import into.
async fn exported_file() -> (TestApp, tempfile::TempDir, std::path::PathBuf) {
    let app = spawn_app().await;
    app.signed_in_user_with_totp("alice").await;
    app.create_user("bob", true).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("twofold.export");
    export(&store_env(app.data.path()), &file);
    (app, dir, file)
}

/// Whether a line of an export file is the audit event of an export (each
/// export adds one to the store it reads).
fn is_export_event(line: &Value) -> bool {
    line["type"] == "audit_event" && line["event"] == "store_exported"
}

/// Nothing in the store of `data` but the events of the exports that
/// checked it.
fn holds_nothing(data: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("check.export");
    let lines = export(&store_env(data), &file);
    let records = &lines[1..lines.len() - 1];
    assert!(records.iter().all(is_export_event), "{lines:?}");
    assert_eq!(
        lines.last().unwrap(),
        &json!({"twofold_export_end": records.len()})
    );
}

#[tokio::test]
async fn an_import_into_a_store_that_has_users_is_refused_in_one_line_writing_nothing() {
    let (_old, _dir, file) = exported_file().await;
    let target = spawn_app().await;
    target.create_user("someone", false).await;
    let before = lines_of(&{
        let f = _dir.path().join("before.export");
        export(&store_env(target.data.path()), &f);
        f
    });
    refused(
        twofold(
            &store_env(target.data.path()),
            &["import", file.to_str().unwrap()],
        ),
        "already has users",
    );
    let after = lines_of(&{
        let f = _dir.path().join("after.export");
        export(&store_env(target.data.path()), &f);
        f
    });
    // Everything but the header's export time, the end count and the
    // event of the first check's export is the same: the refused import
    // left no event.
    let kept = |lines: &[Value]| -> Vec<Value> {
        lines[1..lines.len() - 1]
            .iter()
            .filter(|line| !is_export_event(line))
            .cloned()
            .collect()
    };
    assert_eq!(kept(&before), kept(&after));
    assert!(
        target
            .store()
            .await
            .user_by_name("alice")
            .await
            .unwrap()
            .is_none()
    );
}

/// `twofold audit`'s row for the newest event named `event`.
fn audited(env: &[(&'static str, String)], event: &str) -> String {
    let output = twofold(env, &["audit"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let trail = String::from_utf8(output.stdout).unwrap();
    trail
        .lines()
        .find(|line| line.contains(event))
        .unwrap_or_else(|| panic!("no {event} in {trail}"))
        .to_owned()
}

/// The counts an export's or import's event names for these records.
fn counts_of(records: &[Value]) -> String {
    let of = |kind: &str| records.iter().filter(|r| r["type"] == kind).count();
    format!(
        "records={}; users={}; devices={}; recovery_codes={}; audit_events={}",
        records.len(),
        of("user"),
        of("device"),
        of("recovery_code"),
        of("audit_event")
    )
}

#[tokio::test]
async fn export_and_import_are_audited_with_what_moved() {
    let old = spawn_app().await;
    let (root, _, _) = old.signed_in_admin_with_totp("root").await;
    let (alice, _, _) = old.signed_in_user_with_totp("alice").await;
    let codes = make_recovery_codes(&old, &alice).await;
    old.create_user("bob", false).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("twofold.export");
    let lines = export(&store_env(old.data.path()), &file);
    let counts = counts_of(&lines[1..lines.len() - 1]);
    assert!(
        counts.contains(&format!(
            "users=3; devices=2; recovery_codes={}",
            codes.len()
        )),
        "{counts}"
    );
    let detail = format!("by=cli; {counts}; file={}", file.display());

    // The running server's admin sees who exported what, and when.
    let answer = old
        .get(&root, "/api/v1/admin/audit?limit=1")
        .await
        .json::<Value>()
        .await
        .unwrap();
    let newest = &answer["events"][0];
    assert_eq!(newest["event"], "store_exported", "{answer}");
    assert_eq!(newest["detail"], detail.as_str());
    assert_eq!(newest["username"], Value::Null);
    assert_eq!(newest["ip"], Value::Null, "done on the host");
    assert!(newest["at"].as_str().unwrap().ends_with('Z'));
    let row = audited(&store_env(old.data.path()), "store_exported");
    assert!(row.contains(&detail) && row.contains("host"), "{row}");

    // The store it is loaded into says what came in, after the moved trail.
    let new_data = tempfile::tempdir().unwrap();
    let mut env = store_env(new_data.path());
    succeeds(twofold(&env, &["import", file.to_str().unwrap()]));
    env.push(("TWOFOLD_SECRETS_KEY", key_of(&old)));
    let row = audited(&env, "store_imported");
    assert!(
        row.contains(&format!("by=cli; {counts}; file={}", file.display())),
        "{row}"
    );
    let trail = String::from_utf8(twofold(&env, &["audit"]).stdout).unwrap();
    let rows: Vec<&str> = trail.lines().collect();
    assert!(rows[1].contains("store_imported"), "newest: {trail}");
    assert!(trail.contains("recovery_codes_created"), "{trail}");
}

#[tokio::test]
async fn a_truncated_miscounted_or_edited_file_is_refused_in_one_line_writing_nothing() {
    let (_old, dir, file) = exported_file().await;
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let records = lines.len() - 2;
    let joined = |lines: &[&str]| lines.iter().map(|l| format!("{l}\n")).collect::<String>();
    let end = |n: usize| format!(r#"{{"twofold_export_end":{n}}}"#);
    let without_second_record: Vec<&str> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, l)| *l)
        .collect();
    let user_line = lines
        .iter()
        .position(|l| l.contains(r#""type":"user""#))
        .unwrap();
    let edited = |from: &str, to: &str| {
        let mut edited: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        assert!(edited[user_line].contains(from));
        edited[user_line] = edited[user_line].replacen(from, to, 1);
        edited.iter().map(|l| format!("{l}\n")).collect::<String>()
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "cut in the middle of a line",
            text[..text.len() / 2].to_owned(),
            "cut short",
        ),
        (
            "cut after a whole line",
            joined(&lines[..lines.len() - 1]),
            "without its end line",
        ),
        (
            "a count one too high",
            joined(&[&lines[..lines.len() - 1], &[end(records + 1).as_str()]].concat()),
            "counts",
        ),
        (
            "a record taken out",
            joined(&without_second_record),
            "counts",
        ),
        (
            "a stray comma",
            edited(r#""admin":"#, r#","admin":"#),
            "not JSON",
        ),
        (
            "a flag made a string",
            edited(r#""disabled":false"#, r#""disabled":"no""#),
            "not a twofold record",
        ),
        (
            "an unknown field",
            edited(r#""admin":false"#, r#""admin":false,"superuser":true"#),
            "not a twofold record",
        ),
        (
            "an unknown type",
            edited(r#""type":"user""#, r#""type":"person""#),
            "not a twofold record",
        ),
        (
            "a line after the end",
            format!("{text}{}\n", lines[1]),
            "after its end line",
        ),
        ("an empty file", String::new(), "not a twofold export"),
    ];
    let target = tempfile::tempdir().unwrap();
    for (what, content, reason) in cases {
        let damaged = dir.path().join("damaged.export");
        std::fs::write(&damaged, content).unwrap();
        let output = twofold(
            &store_env(target.path()),
            &["import", damaged.to_str().unwrap()],
        );
        assert!(!output.status.success(), "{what}: accepted");
        let message = stderr(&output);
        assert_eq!(message.lines().count(), 1, "{what}: {message}");
        assert!(
            message.contains(reason),
            "{what}: {message:?} names {reason:?}"
        );
        holds_nothing(target.path());
    }
    // The whole file still goes into the same store.
    succeeds(twofold(
        &store_env(target.path()),
        &["import", file.to_str().unwrap()],
    ));
}
