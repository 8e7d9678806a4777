//! What the HTTP benchmarks share: the release server as a child process,
//! wrk runs and their parsing, raw Argon2id as the machine's ceiling, and a
//! signed-in session to verify.
#![allow(dead_code)] // Each benchmark uses its own part.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const PASSWORD: &str = "swift otters paddle upstream at dawn";
pub const SECONDS: u32 = 10;
/// Accounts the login load rotates over.
pub const LOGIN_USERS: usize = 16;

pub struct Server {
    pub child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Argon2id hashes per second with the server's default parameters, on as
/// many threads as the server hashes with (one per core), each reusing its
/// working memory as the server's hashing threads do: the best the machine
/// can do, with nothing but Argon2 running.
pub fn raw_argon2_per_second(threads: usize, seconds: u64) -> f64 {
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

pub struct WrkResult {
    pub requests_per_sec: f64,
    pub p99_ms: Option<f64>,
    pub non_2xx: u64,
}

pub fn parse_duration_ms(text: &str) -> Option<f64> {
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

pub fn wrk(
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

pub fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

pub fn script(dir: &std::path::Path, name: &str, body: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn totp(secret: &str, at: u64) -> String {
    let bytes = totp_rs::Secret::try_from_base32(secret).unwrap();
    totp_rs::Builder::new()
        .with_secret(bytes.as_ref().to_vec())
        .build()
        .unwrap()
        .generate(at)
        .to_string()
}

/// Signs a user in through the API and returns the session cookie's value.
pub async fn session_cookie(base: &str) -> String {
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

/// Creates `users` with the benchmark password through the CLI.
pub fn add_users(bin: &str, env: &[(&str, String)], users: &[String]) {
    for user in users {
        let mut add = Command::new(bin)
            .args(["user", "add", user, "--password-stdin"])
            .envs(env.iter().cloned())
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
}

/// `bench`, whose session verify checks, and the accounts logins rotate over
/// (as they would in life: one account guessed from one address in parallel
/// is throttled, by design).
pub fn bench_users() -> Vec<String> {
    std::iter::once("bench".to_owned())
        .chain((0..LOGIN_USERS).map(|n| format!("user{n}")))
        .collect()
}

/// Starts `twofold serve` and waits until `base` answers `/healthz`.
pub async fn serve(bin: &str, env: &[(&str, String)], base: &str) -> Server {
    let server = Server {
        child: Command::new(bin)
            .arg("serve")
            .envs(env.iter().cloned())
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
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server at {base} did not come up");
}

/// The settings of a benchmark server on `port` keeping its data in `data`.
pub fn server_env(data: &std::path::Path, port: u16) -> [(&'static str, String); 4] {
    [
        ("TWOFOLD_STORAGE_PATH", data.display().to_string()),
        ("TWOFOLD_SERVER_LISTEN", format!("127.0.0.1:{port}")),
        ("TWOFOLD_SERVER_ORIGIN", format!("http://localhost:{port}")),
        ("TWOFOLD_LOG_LEVEL", "error".into()),
    ]
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A wrk script that posts password logins rotating over the login users.
pub fn login_script(dir: &std::path::Path) -> std::path::PathBuf {
    script(
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
    )
}

/// A wrk script that sends the session cookie.
pub fn verify_script(dir: &std::path::Path, name: &str, cookie: &str) -> std::path::PathBuf {
    script(
        dir,
        name,
        &format!("wrk.headers[\"Cookie\"] = \"{cookie}\"\n"),
    )
}

/// The first three fields of /proc/loadavg.
pub fn load_average() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    load.split(' ').take(3).collect::<Vec<_>>().join(" ")
}

/// What a visitor saw: each request's latency, counted from when it was due.
pub struct VisitorResult {
    pub requests: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// A visitor: one request at a time on one keep-alive connection, sent at
/// random moments (1–3 ms apart, ~500 a second), each timed from the moment
/// it was due, so a stall also counts against the requests it held back (no
/// coordinated omission). Unlike a client firing back to back (which keeps a
/// whole core busy on 2 cores and competes with the load it measures beside,
/// and whose stalls wrk's correction multiplies by its request rate), this is
/// the latency a person's request meets at any moment.
pub fn visitor(port: u16, path: &str, cookie: &str, seconds: u32) -> VisitorResult {
    use rand::Rng;
    use std::io::{BufRead, BufReader, Read};
    let stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nCookie: {cookie}\r\n\r\n");
    let mut rng = rand::rng();
    let (start, mut due) = (Instant::now(), Instant::now());
    let mut latencies = Vec::new();
    while start.elapsed() < Duration::from_secs(seconds.into()) {
        due += Duration::from_micros(rng.random_range(1_000..3_000));
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        writer.write_all(request.as_bytes()).unwrap();
        let mut length = 0;
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(
            status.contains(" 200 "),
            "a visitor's verify is a 200: {status}"
        );
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        latencies.push(due.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    let at = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    VisitorResult {
        requests: latencies.len(),
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: *latencies.last().unwrap(),
    }
}
