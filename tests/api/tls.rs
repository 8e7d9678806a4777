//! HTTPS served by twofold itself: certificates made here with rcgen, a
//! client that trusts only their CA, HSTS and `Secure` cookies, a SIGHUP to
//! the real binary swapping the certificate under a kept-alive connection,
//! and a start refused with one line for a missing or mismatched key.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::json;

use crate::helpers::{PASSWORD, set_cookie, spawn_app_with};
use crate::restart::free_port;

/// A test CA that signs certificates for `localhost`.
struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, as PEM, and the certificate as DER.
struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

impl TestCa {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A new key and a certificate for `localhost` signed by this CA.
    fn leaf(&self) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }
}

struct TlsFiles {
    cert: PathBuf,
    key: PathBuf,
}

impl TlsFiles {
    fn in_folder(folder: &Path) -> Self {
        Self {
            cert: folder.join("cert.pem"),
            key: folder.join("key.pem"),
        }
    }

    fn write(&self, leaf: &Leaf) {
        std::fs::write(&self.cert, &leaf.cert_pem).unwrap();
        std::fs::write(&self.key, &leaf.key_pem).unwrap();
    }
}

/// A reqwest client that trusts only the test CA.
fn https_client(ca: &TestCa) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .cookie_store(true)
        .build()
        .unwrap()
}

/// A raw TLS connection that keeps its socket, so a test can tell one
/// connection from another and read the certificate it was given.
struct KeptConnection {
    stream: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
}

impl KeptConnection {
    fn open(ca: &TestCa, port: u16) -> Self {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.issuer.der().clone()).unwrap();
        #[allow(deprecated)] // ring: see src/web/tls.rs.
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let name = ServerName::try_from("localhost").unwrap();
        let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut kept = Self {
            stream: rustls::StreamOwned::new(connection, socket),
        };
        // Completes the handshake.
        kept.stream.flush().unwrap();
        while kept.stream.conn.is_handshaking() {
            kept.stream.conn.complete_io(&mut kept.stream.sock).unwrap();
        }
        kept
    }

    fn server_certificate(&self) -> CertificateDer<'static> {
        self.stream.conn.peer_certificates().unwrap()[0].clone()
    }

    /// `GET /healthz` on this connection (keep-alive); the status code.
    fn healthz(&mut self) -> u16 {
        self.stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            let n = self.stream.read(&mut buffer).unwrap();
            assert!(n > 0, "the server closed the kept connection");
            received.extend_from_slice(&buffer[..n]);
            let text = String::from_utf8_lossy(&received).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if received.len() >= end + 4 + length {
                    return text[9..12].parse().unwrap();
                }
            }
        }
    }
}

/// `twofold serve` with TLS from `files`, on `port`; not waited for.
fn start_serving(data: &Path, files: &TlsFiles, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_twofold"))
        .arg("serve")
        .env("TWOFOLD_STORAGE_PATH", data)
        .env("TWOFOLD_SERVER_LISTEN", format!("127.0.0.1:{port}"))
        .env("TWOFOLD_SERVER_ORIGIN", format!("https://localhost:{port}"))
        .env("TWOFOLD_SERVER_TLS_CERT", &files.cert)
        .env("TWOFOLD_SERVER_TLS_KEY", &files.key)
        .env("TWOFOLD_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn https_is_served_with_hsts_and_secure_cookies() {
    let ca = TestCa::new();
    let folder = tempfile::tempdir().unwrap();
    let files = TlsFiles::in_folder(folder.path());
    files.write(&ca.leaf());
    let app = spawn_app_with(|settings| {
        settings.server.origin = "https://localhost:0".into();
        settings.server.tls_cert = Some(files.cert.clone());
        settings.server.tls_key = Some(files.key.clone());
    })
    .await;
    app.create_user("alice", false).await;
    let client = https_client(&ca);
    let base = format!("https://localhost:{}", app.port);

    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let login = client
        .post(format!("{base}/api/v1/login"))
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let pending = set_cookie(&login, "twofold_pending").expect("a pending-login cookie");
    assert!(pending.contains("; Secure"), "{pending}");

    // Plain HTTP on the same port gets no answer.
    let plain = reqwest::get(format!("http://localhost:{}/healthz", app.port)).await;
    assert!(plain.is_err(), "{plain:?}");
}

#[tokio::test]
async fn sighup_swaps_the_certificate_for_new_connections_and_keeps_open_ones() {
    let ca = TestCa::new();
    let data = tempfile::tempdir().unwrap();
    let files = TlsFiles::in_folder(data.path());
    let first = ca.leaf();
    files.write(&first);
    let port = free_port();
    let server = Serving(start_serving(data.path(), &files, port));
    let client = https_client(&ca);
    let health = format!("https://localhost:{port}/healthz");
    let mut up = false;
    for _ in 0..200 {
        if client
            .get(&health)
            .send()
            .await
            .is_ok_and(|a| a.status() == 200)
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the HTTPS server did not start");

    let mut kept = KeptConnection::open(&ca, port);
    assert_eq!(kept.server_certificate(), first.der);
    assert_eq!(kept.healthz(), 200);

    let second = ca.leaf();
    files.write(&second);
    // SAFETY: a signal to the child this test started.
    let sent = unsafe { libc::kill(server.0.id() as libc::pid_t, libc::SIGHUP) };
    assert_eq!(sent, 0);

    let mut swapped = false;
    for _ in 0..100 {
        if KeptConnection::open(&ca, port).server_certificate() == second.der {
            swapped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(swapped, "new connections still get the first certificate");
    let fresh = https_client(&ca).get(&health).send().await.unwrap();
    assert_eq!(fresh.status(), 200);
    assert!(fresh.headers().contains_key("strict-transport-security"));

    // The connection opened before the reload still answers, as it was.
    assert_eq!(kept.healthz(), 200);
    assert_eq!(kept.server_certificate(), first.der);
}

/// Starts the binary and expects it to stop at once with one line.
fn refused_start(files: &TlsFiles) -> String {
    let data = tempfile::tempdir().unwrap();
    let output = start_serving(data.path(), files, free_port())
        .wait_with_output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    stderr
}

#[test]
fn a_missing_key_file_stops_the_start_with_one_line() {
    let ca = TestCa::new();
    let folder = tempfile::tempdir().unwrap();
    let files = TlsFiles::in_folder(folder.path());
    std::fs::write(&files.cert, ca.leaf().cert_pem).unwrap();
    let stderr = refused_start(&files);
    assert!(stderr.contains("server.tls_key"), "{stderr}");
    assert!(stderr.contains("key.pem"), "{stderr}");
}

#[test]
fn a_key_of_another_certificate_stops_the_start_with_one_line() {
    let ca = TestCa::new();
    let folder = tempfile::tempdir().unwrap();
    let files = TlsFiles::in_folder(folder.path());
    std::fs::write(&files.cert, ca.leaf().cert_pem).unwrap();
    std::fs::write(&files.key, ca.leaf().key_pem).unwrap();
    let stderr = refused_start(&files);
    assert!(
        stderr.contains("does not match the certificate"),
        "{stderr}"
    );
}
