//! The write path's tail: second-factor (TOTP) steps answered while 8
//! sign-ins run at once, on the release server (`twofold serve`, a separate
//! process), optionally side by side with a baseline build: the step's p50,
//! p90, p99, steps/s and fsyncs per step (counted by `strace`).
//!
//! Run: `cargo bench --bench second_factor` (needs `strace`); to compare with
//! an older build, `BENCH_BASELINE_BIN=/path/to/old/twofold cargo bench --bench second_factor`.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const PASSWORD: &str = "swift otters paddle upstream at dawn";
/// Sign-ins in flight at once.
const CONCURRENT: usize = 8;
const USERS: usize = 24;
/// The most a user may hold.
const DEVICES_PER_USER: usize = 8;
const ROUNDS: usize = 2;

struct Server {
    child: Child,
    base: String,
    fsync_log: std::path::PathBuf,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    /// Stops the server itself first: killing strace only detaches it from
    /// its tracee, which would keep running after the bench.
    fn drop(&mut self) {
        let children = format!("/proc/{0}/task/{0}/children", self.child.id());
        for pid in std::fs::read_to_string(children)
            .unwrap_or_default()
            .split_whitespace()
        {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Device {
    user: String,
    secret: String,
    last_step: u64,
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn step_now() -> u64 {
    now_secs() as u64 / 30
}

fn code(secret: &str, step: u64) -> String {
    let bytes = totp_rs::Secret::try_from_base32(secret).unwrap();
    totp_rs::Builder::new()
        .with_secret(bytes.as_ref().to_vec())
        .build()
        .unwrap()
        .generate(step * 30)
        .to_string()
}

/// Connections idle for 2 s are dropped before the server's 5 s keep-alive
/// closes them under a request (a pending login waits for its round).
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .pool_idle_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

/// Starts `bin serve` under strace, which logs each fsync with its time.
async fn start(bin: &str, users: &[String]) -> Server {
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://localhost:{port}");
    let mut env = vec![
        ("TWOFOLD_STORAGE_PATH", data.path().display().to_string()),
        ("TWOFOLD_SERVER_LISTEN", format!("127.0.0.1:{port}")),
        ("TWOFOLD_SERVER_ORIGIN", base.clone()),
        ("TWOFOLD_LOG_LEVEL", "error".into()),
    ];
    // Every pending login holds its client's connection open, all from one
    // address: above the default per-address cap (128). Older builds have
    // no cap and refuse the unknown key.
    if bin == env!("CARGO_BIN_EXE_twofold") {
        env.push(("TWOFOLD_SERVER_MAX_CONNECTIONS_PER_IP", "4096".into()));
    }
    for user in users {
        let mut add = Command::new(bin)
            .args(["user", "add", user, "--password-stdin"])
            .envs(env.clone())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
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
    let fsync_log = data.path().join("fsyncs.log");
    let child = Command::new("strace")
        .args(["-f", "--seccomp-bpf", "-qq", "-ttt"])
        .args(["-e", "trace=fsync,fdatasync", "-o"])
        .arg(&fsync_log)
        .arg(bin)
        .arg("serve")
        .envs(env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("strace runs (apt-get install strace)");
    let server = Server {
        child,
        base,
        fsync_log,
        _data: data,
    };
    for _ in 0..400 {
        if reqwest::get(format!("{}/healthz", server.base))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{bin} did not start");
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let answer = client.post(url).json(&body).send().await.unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

/// Enrols `DEVICES_PER_USER` authenticator apps for the user. Each is
/// confirmed with the previous step's code, so that two later steps are left
/// to sign in with.
async fn enrol(base: &str, user: &str) -> Vec<Device> {
    let client = client();
    let (status, _) = post(
        &client,
        format!("{base}/api/v1/login"),
        json!({"username": user, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "password of {user}");
    let mut devices = Vec::new();
    for n in 0..DEVICES_PER_USER {
        let (status, enrolment) = post(
            &client,
            format!("{base}/api/v1/me/totp"),
            json!({"name": format!("app {n}")}),
        )
        .await;
        assert_eq!(status, 201, "enrolment of {user}: {enrolment}");
        let secret = enrolment["secret"].as_str().unwrap().to_owned();
        let confirm = format!(
            "{base}/api/v1/me/totp/{}/confirm",
            enrolment["id"].as_str().unwrap()
        );
        let step = step_now() - 1;
        let (status, _) = post(&client, confirm, json!({"code": code(&secret, step)})).await;
        assert!(status < 300, "confirming a device of {user}: {status}");
        devices.push(Device {
            user: user.to_owned(),
            secret,
            last_step: step,
        });
    }
    devices
}

struct Round {
    latencies_ms: Vec<f64>,
    failures: usize,
    seconds: f64,
    fsyncs: usize,
}

/// Opens one pending login per usable device (the password steps, not
/// measured), then answers all their second steps `CONCURRENT` at a time.
async fn round(server: &Server, devices: &mut [Device]) -> Round {
    let base = server.base.clone();
    let step = step_now();
    let usable: Vec<usize> = (0..devices.len())
        .filter(|&i| devices[i].last_step < step + 1)
        .collect();
    let mut pending = Vec::new();
    for chunk in usable.chunks(CONCURRENT) {
        let logins: Vec<_> = chunk
            .iter()
            .map(|&i| {
                let (base, user) = (base.clone(), devices[i].user.clone());
                tokio::spawn(async move {
                    let client = client();
                    // Parallel right passwords of one account may be throttled
                    // (by the baseline): wait and retry, this step is not measured.
                    for _ in 0..50 {
                        let (status, _) = post(
                            &client,
                            format!("{base}/api/v1/login"),
                            json!({"username": user, "password": PASSWORD}),
                        )
                        .await;
                        if status == 200 {
                            return client;
                        }
                        assert_eq!(status, 429);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    panic!("{user} could not sign in");
                })
            })
            .collect();
        for (&i, login) in chunk.iter().zip(logins) {
            let step = (devices[i].last_step + 1).max(step_now().saturating_sub(1));
            devices[i].last_step = step;
            pending.push((login.await.unwrap(), code(&devices[i].secret, step)));
        }
    }
    let queue = std::sync::Arc::new(std::sync::Mutex::new(pending));
    let (from, started) = (now_secs(), Instant::now());
    let workers: Vec<_> = (0..CONCURRENT)
        .map(|_| {
            let (queue, base) = (queue.clone(), base.clone());
            tokio::spawn(async move {
                let (mut latencies, mut failures) = (Vec::new(), 0);
                loop {
                    let Some((client, code)) = queue.lock().unwrap().pop() else {
                        return (latencies, failures);
                    };
                    let at = Instant::now();
                    let (status, _) = post(
                        &client,
                        format!("{base}/api/v1/login/totp"),
                        json!({"code": code}),
                    )
                    .await;
                    if status == 200 {
                        latencies.push(at.elapsed().as_secs_f64() * 1000.0);
                    } else {
                        failures += 1;
                    }
                }
            })
        })
        .collect();
    let mut result = Round {
        latencies_ms: Vec::new(),
        failures: 0,
        seconds: 0.0,
        fsyncs: 0,
    };
    for worker in workers {
        let (latencies, failures) = worker.await.unwrap();
        result.latencies_ms.extend(latencies);
        result.failures += failures;
    }
    result.seconds = started.elapsed().as_secs_f64();
    let to = now_secs();
    // strace writes its log as calls return: give it a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = std::fs::read_to_string(&server.fsync_log).unwrap_or_default();
    result.fsyncs = log
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .filter(|&t| (from..=to).contains(&t))
        .count();
    result
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

struct Summary {
    p50: f64,
    p90: f64,
    p99: f64,
    steps_per_sec: f64,
    fsyncs_per_step: f64,
    failures: usize,
    steps: usize,
}

fn summarise(rounds: &[Round]) -> Summary {
    let mut all: Vec<f64> = rounds.iter().flat_map(|r| r.latencies_ms.clone()).collect();
    all.sort_by(f64::total_cmp);
    let steps = all.len();
    let seconds: f64 = rounds.iter().map(|r| r.seconds).sum();
    let fsyncs: usize = rounds.iter().map(|r| r.fsyncs).sum();
    Summary {
        p50: percentile(&all, 0.5),
        p90: percentile(&all, 0.9),
        p99: percentile(&all, 0.99),
        steps_per_sec: steps as f64 / seconds,
        fsyncs_per_step: fsyncs as f64 / steps.max(1) as f64,
        failures: rounds.iter().map(|r| r.failures).sum(),
        steps,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("run with: cargo bench --bench second_factor");
        return;
    }
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let users: Vec<String> = (0..USERS).map(|n| format!("user{n}")).collect();
    let mut builds = vec![("this build", env!("CARGO_BIN_EXE_twofold").to_owned())];
    if let Ok(baseline) = std::env::var("BENCH_BASELINE_BIN") {
        builds.insert(0, ("baseline", baseline));
    }
    let mut targets = Vec::new();
    for (name, bin) in &builds {
        let server = start(bin, &users).await;
        let mut devices = Vec::new();
        for user in &users {
            devices.extend(enrol(&server.base, user).await);
        }
        targets.push((*name, server, devices, Vec::new()));
    }
    // Alternating rounds, so that every build sees the same background load.
    for _ in 0..ROUNDS {
        for (_, server, devices, rounds) in targets.iter_mut() {
            rounds.push(round(server, devices).await);
        }
    }
    println!(
        "machine: {} cores; load average before the run: {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_before.split(' ').take(3).collect::<Vec<_>>().join(" ")
    );
    println!("| build | TOTP steps | p50 | p90 | p99 | steps/s | fsyncs per step | failed |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut summaries = Vec::new();
    for (name, _, _, rounds) in &targets {
        let s = summarise(rounds);
        println!(
            "| {name} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.0} | {:.2} | {} |",
            s.steps, s.p50, s.p90, s.p99, s.steps_per_sec, s.fsyncs_per_step, s.failures
        );
        summaries.push(s);
    }
    if let [old, new] = &summaries[..] {
        println!(
            "steps/s, this build ÷ baseline: {:.0} ÷ {:.0} = **{:.2}** (target ≥ 2)",
            new.steps_per_sec,
            old.steps_per_sec,
            new.steps_per_sec / old.steps_per_sec
        );
    }
}
