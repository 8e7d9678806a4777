//! HTTP benchmarks of the release server, each figure a ratio or a latency
//! taken in one run on this machine: password logins against raw Argon2id,
//! `/api/v1/verify` against `/healthz`, verify's p99 while logins saturate
//! every core, and the server's peak RSS under that load.
//!
//! Run: `cargo bench --bench http` (needs `wrk`: `apt-get install wrk`).

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const PASSWORD: &str = "swift otters paddle upstream at dawn";
const SECONDS: u32 = 10;
/// Accounts the login load rotates over.
const LOGIN_USERS: usize = 16;

struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Argon2id hashes per second with the server's default parameters, on as
/// many threads as the server hashes with (one per core), each reusing its
/// working memory as the server's hashing threads do: the best the machine
/// can do, with nothing but Argon2 running.
fn raw_argon2_per_second(threads: usize, seconds: u64) -> f64 {
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                let argon2 = argon2::Argon2::default();
                let params = argon2::Params::default();
                let mut memory = vec![argon2::Block::new(); params.block_count()];
                let (salt, mut output) = (*b"sixteen byte salt", [0u8; 32]);
                let mut hashes = 0u64;
                while start.elapsed() < Duration::from_secs(seconds) {
                    argon2
                        .hash_password_into_with_memory(
                            PASSWORD.as_bytes(),
                            &salt,
                            &mut output,
                            &mut memory,
                        )
                        .unwrap();
                    hashes += 1;
                }
                hashes
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    total as f64 / start.elapsed().as_secs_f64()
}

struct WrkResult {
    requests_per_sec: f64,
    p99_ms: Option<f64>,
    non_2xx: u64,
}

fn parse_duration_ms(text: &str) -> Option<f64> {
    let (number, unit) = text.split_at(text.find(|c: char| c.is_ascii_alphabetic())?);
    let value: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => value / 1000.0,
        "ms" => value,
        "s" => value * 1000.0,
        "m" => value * 60_000.0,
        _ => return None,
    })
}

fn wrk(
    url: &str,
    script: &std::path::Path,
    threads: u32,
    connections: u32,
    seconds: u32,
) -> WrkResult {
    let output = Command::new("wrk")
        .args(["-t", &threads.to_string(), "-c", &connections.to_string()])
        .args(["-d", &format!("{seconds}s"), "--latency", "-s"])
        .arg(script)
        .arg(url)
        .output()
        .expect("wrk runs (apt-get install wrk)");
    let text = String::from_utf8_lossy(&output.stdout);
    let requests_per_sec = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("wrk output without Requests/sec:\n{text}"));
    let p99_ms = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .and_then(|v| parse_duration_ms(v.trim()));
    let non_2xx = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    WrkResult {
        requests_per_sec,
        p99_ms,
        non_2xx,
    }
}

fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn script(dir: &std::path::Path, name: &str, body: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn totp(secret: &str, at: u64) -> String {
    let bytes = totp_rs::Secret::try_from_base32(secret).unwrap();
    totp_rs::Builder::new()
        .with_secret(bytes.as_ref().to_vec())
        .build()
        .unwrap()
        .generate(at)
        .to_string()
}

/// Signs a user in through the API and returns the session cookie's value.
async fn session_cookie(base: &str) -> String {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let login = json!({"username": "bench", "password": PASSWORD});
    client
        .post(format!("{base}/api/v1/login"))
        .json(&login)
        .send()
        .await
        .unwrap();
    let enrolment: Value = client
        .post(format!("{base}/api/v1/me/totp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = enrolment["secret"].as_str().unwrap();
    let confirm = format!(
        "{base}/api/v1/me/totp/{}/confirm",
        enrolment["id"].as_str().unwrap()
    );
    let answer = client
        .post(confirm)
        .json(&json!({"code": totp(secret, now())}))
        .send()
        .await
        .unwrap();
    answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("twofold_session="))
        .expect("a session cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        // Built but not run by `cargo test --all-targets`: this takes a minute.
        eprintln!("run with: cargo bench --bench http");
        return;
    }
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let bin = env!("CARGO_BIN_EXE_twofold");
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://localhost:{port}");
    let env = [
        ("TWOFOLD_STORAGE_PATH", data.path().display().to_string()),
        ("TWOFOLD_SERVER_LISTEN", format!("127.0.0.1:{port}")),
        ("TWOFOLD_SERVER_ORIGIN", base.clone()),
        ("TWOFOLD_LOG_LEVEL", "error".into()),
    ];
    // `bench` holds the session verify checks; logins rotate over many users,
    // as they would in life (one account guessed from one address in parallel
    // is throttled, by design).
    let users: Vec<String> = std::iter::once("bench".to_owned())
        .chain((0..LOGIN_USERS).map(|n| format!("user{n}")))
        .collect();
    for user in &users {
        let mut add = Command::new(bin)
            .args(["user", "add", user, "--password-stdin"])
            .envs(env.clone())
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        add.stdin
            .take()
            .unwrap()
            .write_all(format!("{PASSWORD}\n").as_bytes())
            .unwrap();
        assert!(add.wait().unwrap().success());
    }
    let server = Server {
        child: Command::new(bin)
            .arg("serve")
            .envs(env)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    };
    for _ in 0..200 {
        if reqwest::get(format!("{base}/healthz"))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cookie = session_cookie(&base).await;
    let dir = data.path();
    let login_lua = script(
        dir,
        "login.lua",
        &format!(
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
             local n = 0\n\
             request = function()\n\
               n = n + 1\n\
               local body = '{{\"username\":\"user' .. (n % {LOGIN_USERS}) .. '\",\"password\":\"{PASSWORD}\"}}'\n\
               return wrk.format(nil, nil, nil, body)\n\
             end\n"
        ),
    );
    let verify_lua = script(
        dir,
        "verify.lua",
        &format!("wrk.headers[\"Cookie\"] = \"{cookie}\"\n"),
    );
    let plain_lua = script(dir, "plain.lua", "");
    let cores = cores();
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");

    // 1. Password logins through HTTP vs raw Argon2id in this process, in
    // alternating rounds so that both see the same background load.
    let (mut raw_sum, mut logins_sum) = (0.0, 0.0);
    for _ in 0..3 {
        raw_sum += raw_argon2_per_second(cores, 4);
        let round = wrk(&url("/api/v1/login"), &login_lua, 1, 4 * cores as u32, 4);
        assert_eq!(round.non_2xx, 0, "every benchmark login succeeds");
        logins_sum += round.requests_per_sec;
    }
    let (raw, logins) = (raw_sum / 3.0, logins_sum / 3.0);

    // 2. verify vs healthz, same server, same load generator.
    let healthz = wrk(&url("/healthz"), &plain_lua, 1, 16, SECONDS);
    let verify = wrk(&url("/api/v1/verify"), &verify_lua, 1, 16, SECONDS);
    assert_eq!(verify.non_2xx, 0, "every verify is a 200");

    // 3. verify latency while password logins saturate every core.
    let saturate = {
        let (url, lua) = (url("/api/v1/login"), login_lua.clone());
        std::thread::spawn(move || wrk(&url, &lua, 1, 4 * cores as u32, SECONDS + 2))
    };
    std::thread::sleep(Duration::from_secs(1));
    let verify_loaded = wrk(&url("/api/v1/verify"), &verify_lua, 1, 1, SECONDS);
    let saturating = saturate.join().unwrap();
    let rss = peak_rss_mib(server.child.id());

    let ratio_logins = logins / raw;
    let ratio_verify = verify.requests_per_sec / healthz.requests_per_sec;
    let p99 = verify_loaded.p99_ms.unwrap_or(f64::NAN);
    println!(
        "machine: {cores} cores; load average before the run: {}",
        load_before.split(' ').take(3).collect::<Vec<_>>().join(" ")
    );
    println!("| figure | measured | target |");
    println!("| --- | --- | --- |");
    println!(
        "| password logins/s ÷ raw Argon2id hashes/s ({cores} threads) | {logins:.1} ÷ {raw:.1} = **{ratio_logins:.2}** | ≥ 0.9 |"
    );
    println!(
        "| /api/v1/verify req/s ÷ /healthz req/s | {:.0} ÷ {:.0} = **{ratio_verify:.2}** | ≥ 0.85 |",
        verify.requests_per_sec, healthz.requests_per_sec
    );
    println!(
        "| verify p99 while logins saturate every core ({:.1} logins/s alongside) | **{p99:.2} ms** | < 2 ms |",
        saturating.requests_per_sec
    );
    println!("| server peak RSS (VmHWM) after all of the above | **{rss:.1} MiB** | < 64 MiB |");
}
