//! Forward-auth through a real nginx (`auth_request`), started on a loopback
//! port with a generated config in front of a small upstream app that echoes
//! the `Remote-User` header it receives.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpServer, web};
use reqwest::header::{ACCEPT, LOCATION};

use crate::helpers::{PASSWORD, TestApp, client, spawn_app_with};

const NGINX: &str = "/usr/sbin/nginx";

pub(crate) struct Nginx {
    /// The master process (`daemon off`), which starts the workers.
    master: Child,
    pub(crate) port: u16,
    _dir: tempfile::TempDir,
}

impl Nginx {
    /// Stops nginx the way it stops cleanly: SIGQUIT to the master, which lets
    /// its workers finish and stop, then exits; a SIGKILL would orphan the
    /// workers. Returns the processes of this nginx still alive afterwards.
    fn quit(&mut self) -> Vec<u32> {
        let master = self.master.id();
        let mut processes = children_of(master);
        processes.push(master);
        if self.master.try_wait().ok().flatten().is_none() {
            // SAFETY: kill(2) on our own child's pid, which is not yet reaped.
            unsafe { libc::kill(master as libc::pid_t, libc::SIGQUIT) };
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while self.master.try_wait().ok().flatten().is_none() {
                if std::time::Instant::now() > deadline {
                    let _ = self.master.kill();
                    let _ = self.master.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        processes.retain(|pid| is_nginx(*pid));
        processes
    }

    fn workers(&self) -> Vec<u32> {
        children_of(self.master.id())
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.quit();
    }
}

/// The processes whose parent is `parent` (from /proc/PID/stat).
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                // "pid (comm) state ppid ...": comm may hold spaces, so split after ')'.
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                    == Some(parent)
            })
        })
        .collect()
}

/// Whether `pid` is a live nginx process (not a zombie awaiting its reaper).
fn is_nginx(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let zombie = stat
        .rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    !zombie && String::from_utf8_lossy(&cmdline).contains("nginx")
}

/// The upstream app: answers every request with the user nginx passed on.
/// twofold behind nginx: the proxied pages live on another port of
/// `localhost`, a host the operator lists as a place to return to.
pub(crate) async fn proxied_app() -> TestApp {
    spawn_app_with(|settings| {
        settings.server.allowed_redirect_domains = vec!["localhost".into()];
    })
    .await
}

fn start_upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(|| {
        App::new().default_service(web::to(|req: HttpRequest| async move {
            let user = req
                .headers()
                .get("Remote-User")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("nobody")
                .to_owned();
            format!("hello {user}")
        }))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    port
}

/// The configuration documented in docs/nginx.md, with test ports.
fn nginx_config(dir: &std::path::Path, port: u16, twofold_port: u16, upstream_port: u16) -> String {
    let dir = dir.display();
    format!(
        r#"worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  server {{
    listen 127.0.0.1:{port};
    server_name localhost;

    location = /_twofold/verify {{
      internal;
      proxy_pass http://127.0.0.1:{twofold_port}/api/v1/verify;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
      proxy_set_header X-Original-Method $request_method;
    }}

    location / {{
      auth_request /_twofold/verify;
      auth_request_set $twofold_user $upstream_http_remote_user;
      auth_request_set $twofold_groups $upstream_http_remote_groups;
      auth_request_set $twofold_login $upstream_http_location;
      error_page 401 =302 $twofold_login;
      error_page 403 http://localhost:{twofold_port}/no-access?rd=$scheme://$http_host$uri;
      proxy_set_header Remote-User $twofold_user;
      proxy_set_header Remote-Groups $twofold_groups;
      proxy_pass http://127.0.0.1:{upstream_port};
    }}
  }}
}}
"#
    )
}

pub(crate) async fn start_nginx(app: &TestApp) -> Nginx {
    assert!(
        std::path::Path::new(NGINX).exists(),
        "nginx is not installed: scripts/test installs it (apt-get install nginx)"
    );
    let upstream_port = start_upstream();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nginx.conf");
    std::fs::write(
        &config,
        nginx_config(dir.path(), port, app.port, upstream_port),
    )
    .unwrap();
    let master = Command::new(NGINX)
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nginx starts");
    let nginx = Nginx {
        master,
        port,
        _dir: dir,
    };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return nginx;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nginx did not start");
}

#[tokio::test]
async fn nginx_lets_only_signed_in_visitors_through_and_names_them_upstream() {
    let app = proxied_app().await;
    let (alice, _, _) = app.signed_in_user_with_totp("alice").await;
    let nginx = start_nginx(&app).await;
    let page = format!("http://localhost:{}/private/page?x=1", nginx.port);

    // Anonymous: sent to the sign-in page with the page as the return address.
    let anonymous = client()
        .get(&page)
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 302);
    let login = anonymous.headers()[LOCATION].to_str().unwrap().to_owned();
    let expected_rd = url::form_urlencoded::byte_serialize(page.as_bytes()).collect::<String>();
    assert_eq!(login, format!("{}/login?rd={expected_rd}", app.address));

    // A forged Remote-User header gets nobody in.
    let forged = client()
        .get(&page)
        .header("Remote-User", "alice")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 302);

    // Signed in: through, and the upstream app learns who it is.
    let through = alice
        .get(&page)
        .header("Remote-User", "mallory")
        .send()
        .await
        .unwrap();
    assert_eq!(through.status(), 200);
    assert_eq!(through.text().await.unwrap(), "hello alice");

    // Signed out: refused again at once.
    assert_eq!(
        alice
            .post(app.url("/api/v1/logout"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let after = alice.get(&page).send().await.unwrap();
    assert_eq!(after.status(), 302);
}

#[tokio::test]
async fn nginx_stops_with_its_workers_and_leaves_no_process_behind() {
    let app = crate::helpers::spawn_app().await;
    let mut nginx = start_nginx(&app).await;
    let page = format!("http://localhost:{}/", nginx.port);
    // A request served: the worker is up and has handled a connection.
    let served = client()
        .get(&page)
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 302);
    let workers = nginx.workers();
    assert!(!workers.is_empty(), "nginx runs a worker process");
    let left = nginx.quit();
    assert!(left.is_empty(), "nginx processes still running: {left:?}");
    assert!(workers.iter().all(|pid| !is_nginx(*pid)));
}

#[tokio::test]
async fn signing_in_from_the_proxy_redirect_returns_to_the_original_page() {
    let app = proxied_app().await;
    let (_, secret, _) = app.signed_in_user_with_totp("bob").await;
    let nginx = start_nginx(&app).await;
    let page = format!("http://localhost:{}/reports/2026", nginx.port);
    let browser = client();

    let login = browser
        .get(&page)
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    let login = login.headers()[LOCATION].to_str().unwrap().to_owned();
    assert_eq!(browser.get(&login).send().await.unwrap().status(), 200);
    let password = browser
        .post(app.url("/login"))
        .form(&[("username", "bob"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(password.headers()[LOCATION], "/login/second-factor");
    app.next_time_step();
    let code = browser
        .post(app.url("/login/totp"))
        .form(&[("code", app.totp_code(&secret))])
        .send()
        .await
        .unwrap();
    assert_eq!(code.status(), 303);
    assert_eq!(code.headers()[LOCATION].to_str().unwrap(), page);
    let through = browser.get(&page).send().await.unwrap();
    assert_eq!(through.text().await.unwrap(), "hello bob");
}

#[tokio::test]
async fn nginx_lets_through_what_the_policies_allow_and_sends_the_rest_away() {
    use crate::access_decisions::Admin;
    let app = proxied_app().await;
    let admin = Admin::new(&app).await;
    let (_, secret, _) = app.signed_in_user_with_totp("alice").await;
    let policy = serde_json::json!({"Version": "2026-12-01", "Statement": [
        {"Sid": "NeverSecret", "Effect": "Deny", "Action": "http:*", "Resource": "http://localhost:*/secret/*"},
        {"Sid": "AdminNeedsKey", "Effect": "Deny", "Action": "http:*", "Resource": "http://localhost:*/admin/*",
         "Condition": {"Bool": {"twofold:PhishingResistant": "false"}}}]});
    admin
        .grant(&app, "app-rules", &policy, "staff", &["alice"])
        .await;
    let alice = app.sign_in_with_totp("alice", &secret).await;
    let nginx = start_nginx(&app).await;
    let base = format!("http://localhost:{}", nginx.port);

    let allowed = alice
        .get(format!("{base}/reports/2026"))
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(allowed.text().await.unwrap(), "hello alice");

    let denied = alice
        .get(format!("{base}/secret/plans"))
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 302);
    let no_access = denied.headers()[LOCATION].to_str().unwrap().to_owned();
    assert_eq!(
        no_access,
        format!("{}/no-access?rd={base}/secret/plans", app.address)
    );
    let page = alice.get(&no_access).send().await.unwrap();
    assert_eq!(page.status(), 403);
    let html = page.text().await.unwrap();
    assert!(html.contains("have access"), "{html}");
    assert!(html.contains(&format!("{base}/secret/plans")), "{html}");

    let key_needed = alice
        .get(format!("{base}/admin/users"))
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(key_needed.status(), 302);
    let rd = url::form_urlencoded::byte_serialize(format!("{base}/admin/users").as_bytes())
        .collect::<String>();
    assert_eq!(
        key_needed.headers()[LOCATION].to_str().unwrap(),
        format!(
            "{}/reauthenticate?rd={rd}&require=security_key",
            app.address
        )
    );
}
