//! Slow clients against the real binary under a low open-file limit: bodies
//! trickling a byte a second are cut at the body deadline (408), one address
//! can't hold more than its share of connections (the rest are cut at once),
//! and `/healthz` and `/api/v1/verify` keep answering throughout.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

use crate::cli::add_user_with_cli;
use crate::restart::{Server, first_sign_in, free_port, serve_command, start};

/// The open-file limit the server runs under (soft and hard).
const DESCRIPTOR_LIMIT: u64 = 256;
const BODY_TIMEOUT_SECS: u64 = 2;
const PER_ADDRESS: usize = 16;
/// No slow connection is watched longer than this.
const WATCH_LIMIT: Duration = Duration::from_secs(20);
/// A probe must be answered within this.
const PROBE_LIMIT: Duration = Duration::from_secs(5);

/// The real binary under `DESCRIPTOR_LIMIT` open files.
async fn serve_with_few_descriptors(data: &std::path::Path, port: u16) -> Server {
    let mut command = serve_command(data, port);
    command
        .env("TWOFOLD_SERVER_WORKERS", "2")
        .env(
            "TWOFOLD_SERVER_BODY_TIMEOUT_SECS",
            BODY_TIMEOUT_SECS.to_string(),
        )
        .env(
            "TWOFOLD_SERVER_MAX_CONNECTIONS_PER_IP",
            PER_ADDRESS.to_string(),
        );
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child
    // between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: DESCRIPTOR_LIMIT,
                rlim_max: DESCRIPTOR_LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    start(command, port).await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Closed before any answer: over its address's share.
    Cut,
    /// `408 Request Timeout`, then closed.
    TimedOut,
    /// Some other answer.
    Answered,
    /// Still open after `WATCH_LIMIT`.
    StillOpen,
}

/// Opens a connection from `source`, sends a sign-in's headers and then its
/// body one byte a second; returns how the server ended it.
async fn slow_body(source: &str, server: SocketAddr) -> Ending {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let Ok(mut stream) = socket.connect(server).await else {
        return Ending::Cut;
    };
    let head = format!(
        "POST /api/v1/login HTTP/1.1\r\nHost: localhost:{}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
        server.port()
    );
    if stream.write_all(head.as_bytes()).await.is_err() {
        return Ending::Cut;
    }
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    while started.elapsed() < WATCH_LIMIT {
        tokio::select! {
            read = stream.read(&mut buffer) => match read {
                Ok(0) | Err(_) if answer.is_empty() => return Ending::Cut,
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            },
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                if stream.write_all(b" ").await.is_err() && answer.is_empty() {
                    return Ending::Cut;
                }
            }
        }
    }
    match answer {
        a if a.starts_with(b"HTTP/1.1 408") => Ending::TimedOut,
        a if a.is_empty() => Ending::StillOpen,
        _ => Ending::Answered,
    }
}

/// Asks `/healthz` and `/api/v1/verify` (with a session) every half second
/// until `until` resolves; each must answer 200 within `PROBE_LIMIT`.
async fn probe_until(
    port: u16,
    session: &reqwest::Client,
    mut until: tokio::task::JoinSet<Ending>,
) {
    let mut probes = 0;
    loop {
        for path in ["/healthz", "/api/v1/verify"] {
            let started = Instant::now();
            let answer = tokio::time::timeout(
                PROBE_LIMIT,
                session.get(format!("http://localhost:{port}{path}")).send(),
            )
            .await;
            let status = match answer {
                Ok(Ok(answer)) => answer.status().as_u16(),
                Ok(Err(e)) => panic!("{path} failed after {:?}: {e}", started.elapsed()),
                Err(_) => panic!("{path} did not answer within {PROBE_LIMIT:?}"),
            };
            assert_eq!(status, 200, "{path}");
            probes += 1;
        }
        if until.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        while let Some(done) = until.try_join_next() {
            done.unwrap();
        }
        if until.is_empty() {
            break;
        }
    }
    assert!(probes >= 4, "probed while the slow clients were connected");
}

async fn endings_of(
    port: u16,
    session: &reqwest::Client,
    sources: Vec<String>,
) -> std::collections::BTreeMap<String, usize> {
    let server: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let (results_tx, mut results_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut attackers = tokio::task::JoinSet::new();
    for source in sources {
        let results = results_tx.clone();
        attackers.spawn(async move {
            let ending = slow_body(&source, server).await;
            results.send(ending).unwrap();
            ending
        });
    }
    drop(results_tx);
    // Let the connections land before the first probe.
    tokio::time::sleep(Duration::from_millis(500)).await;
    probe_until(port, session, attackers).await;
    let mut endings = std::collections::BTreeMap::new();
    while let Some(ending) = results_rx.recv().await {
        *endings.entry(format!("{ending:?}")).or_insert(0) += 1;
    }
    endings
}

#[tokio::test]
async fn slow_bodies_are_cut_and_probes_answer_under_a_low_descriptor_limit() {
    let data = tempfile::tempdir().unwrap();
    add_user_with_cli(data.path(), "alice");
    let port = free_port();
    let _server = serve_with_few_descriptors(data.path(), port).await;
    let (session, _) = first_sign_in(port, "alice").await;

    // From one address, more slow bodies than the server has descriptors:
    // its share waits for the body deadline (408), the rest are cut at once.
    let one_address = vec!["127.0.0.2".to_owned(); 300];
    let endings = endings_of(port, &session, one_address).await;
    assert_eq!(endings.get("TimedOut"), Some(&PER_ADDRESS), "{endings:?}");
    assert_eq!(
        endings.get("Cut"),
        Some(&(300 - PER_ADDRESS)),
        "{endings:?}"
    );

    // From many addresses, more than the total the descriptors allow: the
    // server keeps its reserve, probes still get in, every one is ended.
    let many: Vec<String> = (0..320)
        .map(|i| format!("127.0.1.{}", 10 + i / PER_ADDRESS))
        .collect();
    let endings = endings_of(port, &session, many).await;
    assert_eq!(endings.get("StillOpen"), None, "{endings:?}");
    assert_eq!(endings.get("Answered"), None, "{endings:?}");
    assert_eq!(endings.values().sum::<usize>(), 320);

    // And the server is whole afterwards.
    let me = session
        .get(format!("http://localhost:{port}/api/v1/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
}
