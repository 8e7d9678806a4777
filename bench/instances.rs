//! Several instances on one PostgreSQL database, each figure a ratio or a
//! latency taken in one run on this machine: `/api/v1/verify` on PostgreSQL
//! against SQLite, password logins on PostgreSQL against raw Argon2id, and
//! verify's p99 with two instances on one database under load at once; with
//! the rows written and transactions committed per request, read from
//! PostgreSQL's own statistics.
//!
//! Run: `cargo bench --bench instances` (needs `wrk` and PostgreSQL's server
//! binaries: `apt-get install wrk postgresql`). It starts a throwaway cluster
//! (as the `postgres` user when run as root), or uses `BENCH_POSTGRES_URL`.

use std::process::Command;
use std::time::Duration;

use base64::Engine;

#[path = "common.rs"]
mod common;
use common::*;

/// A throwaway PostgreSQL cluster, stopped when dropped.
struct Cluster {
    bin: String,
    dir: tempfile::TempDir,
    url: String,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = as_postgres(&format!("{}/pg_ctl", self.bin))
            .args(["-D", data.to_str().unwrap(), "-m", "fast", "stop"])
            .output();
    }
}

/// PostgreSQL refuses to run as root: as root, run its programs as `postgres`.
fn as_postgres(program: &str) -> Command {
    if unsafe { libc::geteuid() } == 0 {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--", program]);
        command
    } else {
        Command::new(program)
    }
}

fn start_cluster() -> Cluster {
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's server binaries (apt-get install postgresql)")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .max_by_key(|p| {
            let version = p.parent().unwrap().file_name().unwrap().to_string_lossy();
            version.parse::<u32>().unwrap_or(0)
        })
        .unwrap()
        .display()
        .to_string();
    let dir = tempfile::Builder::new()
        .prefix("twofold-bench-pg")
        .tempdir()
        .unwrap();
    if unsafe { libc::geteuid() } == 0 {
        Command::new("chown")
            .args(["postgres", dir.path().to_str().unwrap()])
            .status()
            .unwrap();
    }
    let password = dir.path().join("password");
    std::fs::write(&password, "twofold\n").unwrap();
    let data = dir.path().join("data");
    let initdb = as_postgres(&format!("{bin}/initdb"))
        .args(["-D", data.to_str().unwrap(), "-U", "twofold"])
        .arg(format!("--pwfile={}", password.display()))
        .args([
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "-E",
            "UTF8",
        ])
        .output()
        .unwrap();
    assert!(initdb.status.success(), "initdb: {initdb:?}");
    let port = free_port();
    // Defaults as shipped (fsync on, synchronous_commit on), with room for
    // the instances' pools.
    let started = as_postgres(&format!("{bin}/pg_ctl"))
        .args(["-D", data.to_str().unwrap(), "-w", "-t", "30"])
        .args([
            "-l",
            dir.path().join("log").to_str().unwrap(),
            "start",
            "-o",
        ])
        .arg(format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c max_connections=200",
            dir.path().display()
        ))
        .output()
        .unwrap();
    assert!(started.status.success(), "pg_ctl start: {started:?}");
    Cluster {
        bin,
        url: format!("postgres://twofold:twofold@127.0.0.1:{port}/postgres"),
        dir,
    }
}

/// Transactions committed and rows written in the database so far.
async fn database_activity(url: &str) -> (i64, i64) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    // The statistics are flushed by each backend about once a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let row = client
        .query_one(
            "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted
               FROM pg_stat_database WHERE datname = current_database()",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

fn environment(port: u16, data: &std::path::Path, key: &str) -> Vec<(&'static str, String)> {
    vec![
        ("TWOFOLD_STORAGE_PATH", data.display().to_string()),
        ("TWOFOLD_SERVER_LISTEN", format!("127.0.0.1:{port}")),
        ("TWOFOLD_SERVER_ORIGIN", format!("http://localhost:{port}")),
        ("TWOFOLD_LOG_LEVEL", "error".into()),
        ("TWOFOLD_SECRETS_KEY", key.to_owned()),
    ]
}

fn on_postgres(mut env: Vec<(&'static str, String)>, url: &str) -> Vec<(&'static str, String)> {
    env.push(("TWOFOLD_STORAGE_BACKEND", "postgres".into()));
    env.push(("TWOFOLD_STORAGE_URL", url.to_owned()));
    env
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("run with: cargo bench --bench instances");
        return;
    }
    let load_before = load_average();
    let bin = env!("CARGO_BIN_EXE_twofold");
    let cluster = match std::env::var("BENCH_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => (None, url),
        _ => {
            let cluster = start_cluster();
            let url = cluster.url.clone();
            (Some(cluster), url)
        }
    };
    let url = cluster.1.clone();
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
    let data = tempfile::tempdir().unwrap();
    let (sqlite_port, a_port, b_port) = (free_port(), free_port(), free_port());
    let sqlite_env = environment(sqlite_port, &data.path().join("sqlite"), &key);
    let a_env = on_postgres(environment(a_port, &data.path().join("a"), &key), &url);
    let b_env = on_postgres(environment(b_port, &data.path().join("b"), &key), &url);
    add_users(bin, &sqlite_env, &bench_users());
    add_users(bin, &a_env, &bench_users());
    let base = |port: u16| format!("http://localhost:{port}");
    let _sqlite = serve(bin, &sqlite_env, &base(sqlite_port)).await;
    let _a = serve(bin, &a_env, &base(a_port)).await;
    let _b = serve(bin, &b_env, &base(b_port)).await;
    let sqlite_cookie = session_cookie(&base(sqlite_port)).await;
    // A session made on A is good on B: one session verified on both.
    let postgres_cookie = session_cookie(&base(a_port)).await;
    let dir = data.path();
    let login_lua = login_script(dir);
    let sqlite_verify = verify_script(dir, "verify-sqlite.lua", &sqlite_cookie);
    let postgres_verify = verify_script(dir, "verify-postgres.lua", &postgres_cookie);
    let cores = cores();
    let url_of = |port: u16, path: &str| format!("http://127.0.0.1:{port}{path}");
    const ROUNDS: u32 = 3;

    // 1. verify on PostgreSQL vs on SQLite: same load generator, alternating
    // rounds so both see the same background load.
    let (mut on_sqlite, mut on_postgres) = (0.0, 0.0);
    let activity_before = database_activity(&url).await;
    for _ in 0..ROUNDS {
        let round = wrk(
            &url_of(sqlite_port, "/api/v1/verify"),
            &sqlite_verify,
            1,
            16,
            5,
        );
        assert_eq!(round.non_2xx, 0, "every verify on SQLite is a 200");
        on_sqlite += round.requests_per_sec / ROUNDS as f64;
        let round = wrk(
            &url_of(a_port, "/api/v1/verify"),
            &postgres_verify,
            1,
            16,
            5,
        );
        assert_eq!(round.non_2xx, 0, "every verify on PostgreSQL is a 200");
        on_postgres += round.requests_per_sec / ROUNDS as f64;
    }
    let activity_after = database_activity(&url).await;
    let verifies = on_postgres * 5.0 * ROUNDS as f64;
    let verify_rows = (activity_after.1 - activity_before.1) as f64 / verifies;
    let verify_commits = (activity_after.0 - activity_before.0) as f64 / verifies;

    // 2. password logins on PostgreSQL vs raw Argon2id in this process.
    let (mut raw, mut logins) = (0.0, 0.0);
    let mut login_count = 0.0;
    let activity_before = database_activity(&url).await;
    for _ in 0..ROUNDS {
        raw += raw_argon2_per_second(cores, 4) / ROUNDS as f64;
        let round = wrk(
            &url_of(a_port, "/api/v1/login"),
            &login_lua,
            1,
            4 * cores as u32,
            4,
        );
        assert_eq!(round.non_2xx, 0, "every benchmark login succeeds");
        logins += round.requests_per_sec / ROUNDS as f64;
        login_count += round.requests_per_sec * 4.0;
    }
    let activity_after = database_activity(&url).await;
    let login_rows = (activity_after.1 - activity_before.1) as f64 / login_count;
    let login_commits = (activity_after.0 - activity_before.0) as f64 / login_count;

    // 3. Two instances on one database, both verifying under load at once.
    let on_b = {
        let (url, lua) = (url_of(b_port, "/api/v1/verify"), postgres_verify.clone());
        std::thread::spawn(move || wrk(&url, &lua, 1, 8, SECONDS))
    };
    let on_a = wrk(
        &url_of(a_port, "/api/v1/verify"),
        &postgres_verify,
        1,
        8,
        SECONDS,
    );
    let on_b = on_b.join().unwrap();
    assert_eq!(on_a.non_2xx + on_b.non_2xx, 0, "every verify is a 200");
    let p99 = |r: &WrkResult| r.p99_ms.unwrap_or(f64::NAN);

    println!("machine: {cores} cores; load average before the run: {load_before}");
    println!("| figure | measured | target |");
    println!("| --- | --- | --- |");
    println!(
        "| /api/v1/verify req/s on PostgreSQL ÷ on SQLite (wrk 16 connections, {ROUNDS} alternating rounds) | {on_postgres:.0} ÷ {on_sqlite:.0} = **{:.2}** | ≥ 0.5 |",
        on_postgres / on_sqlite
    );
    println!(
        "| password logins/s on PostgreSQL ÷ raw Argon2id hashes/s ({cores} threads) | {logins:.1} ÷ {raw:.1} = **{:.2}** | ≥ 0.9 |",
        logins / raw
    );
    println!(
        "| verify p99, two instances on one database, 8 connections on each at once | A **{:.2} ms**, B **{:.2} ms** ({:.0} + {:.0} req/s) | |",
        p99(&on_a),
        p99(&on_b),
        on_a.requests_per_sec,
        on_b.requests_per_sec
    );
    println!(
        "| rows written / transactions committed per verify (pg_stat_database) | {verify_rows:.3} / {verify_commits:.2} | |"
    );
    println!(
        "| rows written / transactions committed per password login (pg_stat_database) | {login_rows:.2} / {login_commits:.2} | |"
    );
    drop(cluster);
}
