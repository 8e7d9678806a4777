//! A real browser for the end-to-end journeys: Debian's headless Chromium,
//! driven over the DevTools protocol through a pipe (`--remote-debugging-pipe`,
//! as Playwright does: no port, no websocket crate, no browser download).
//! A test types into fields found by their labels and clicks buttons found by
//! their words, as a person would; every page it reaches is checked for good
//! manners (labels, autocomplete, no overflow at the viewport's width, only
//! our own resources, no script errors) and saved as a PNG under `target/e2e/`.
#![allow(dead_code)] // Not every journey uses every action.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;

use crate::helpers::TestApp;

/// The browser the suite drives; the variable `CHROMIUM_VARIABLE` overrides it.
const CHROMIUM: &str = "/usr/bin/chromium";
/// Names another Chromium binary for the suite. It stays out of the
/// `TWOFOLD_` namespace: every `twofold` command reads those as settings.
pub const CHROMIUM_VARIABLE: &str = "E2E_CHROMIUM";
/// How long a page may take to show what a journey waits for.
const PATIENCE: Duration = Duration::from_secs(10);

/// The size of the window the journey runs in.
#[derive(Debug, Clone, Copy)]
pub struct Viewport {
    pub width: u32,
    pub height: u32,
    pub scale: f64,
    pub mobile: bool,
}

/// A phone held upright: the narrowest width the pages promise to work at.
pub const PHONE: Viewport = Viewport {
    width: 360,
    height: 740,
    scale: 2.0,
    mobile: true,
};
/// A laptop screen.
pub const LAPTOP: Viewport = Viewport {
    width: 1100,
    height: 760,
    scale: 1.0,
    mobile: false,
};

type Reply = Result<Value, String>;

/// The DevTools connection: commands go out NUL-terminated on one pipe,
/// answers and events come back on the other, read by a thread.
struct Connection {
    writer: Mutex<std::io::PipeWriter>,
    next_id: AtomicU64,
    waiting: Arc<Mutex<HashMap<u64, oneshot::Sender<Reply>>>>,
    /// Script exceptions, CSP violations and console errors seen on pages.
    problems: Arc<Mutex<Vec<String>>>,
}

impl Connection {
    async fn send(&self, session: Option<&str>, method: &str, params: Value) -> Reply {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().unwrap().insert(id, tx);
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.writer
            .lock()
            .unwrap()
            .write_all(&bytes)
            .map_err(|e| format!("writing to the browser: {e}"))?;
        match tokio::time::timeout(Duration::from_secs(20), rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(format!("the browser closed while answering {method}")),
            Err(_) => Err(format!("the browser did not answer {method} in 20 s")),
        }
    }
}

/// Reads the browser's messages until the pipe closes.
fn read_messages(
    mut reader: std::io::PipeReader,
    waiting: Arc<Mutex<HashMap<u64, oneshot::Sender<Reply>>>>,
    problems: Arc<Mutex<Vec<String>>>,
) {
    let mut pending = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.extend_from_slice(&chunk[..n]);
        while let Some(end) = pending.iter().position(|&b| b == 0) {
            let message: Vec<u8> = pending.drain(..=end).collect();
            let Ok(message) = serde_json::from_slice::<Value>(&message[..end]) else {
                continue;
            };
            if let Some(id) = message["id"].as_u64() {
                if let Some(tx) = waiting.lock().unwrap().remove(&id) {
                    let reply = match message.get("error") {
                        Some(error) => Err(error.to_string()),
                        None => Ok(message["result"].clone()),
                    };
                    let _ = tx.send(reply);
                }
            } else if let Some(problem) = page_problem(&message) {
                problems.lock().unwrap().push(problem);
            }
        }
    }
    waiting.lock().unwrap().clear();
}

/// An event that means a page misbehaved: an uncaught script error, a
/// Content-Security-Policy violation, a console error.
fn page_problem(event: &Value) -> Option<String> {
    let params = &event["params"];
    match event["method"].as_str()? {
        "Runtime.exceptionThrown" => Some(format!(
            "script error: {}",
            params["exceptionDetails"]["exception"]["description"]
                .as_str()
                .or(params["exceptionDetails"]["text"].as_str())
                .unwrap_or("?")
        )),
        "Log.entryAdded" => {
            let entry = &params["entry"];
            let source = entry["source"].as_str().unwrap_or("");
            // A refused request (401, 400) is logged by the network source:
            // pages show those in words, so they are not problems.
            (entry["level"] == "error" && matches!(source, "security" | "javascript" | "violation"))
                .then(|| format!("{source}: {}", entry["text"].as_str().unwrap_or("?")))
        }
        "Runtime.consoleAPICalled" if params["type"] == "error" => {
            Some(format!("console error: {}", params["args"]))
        }
        _ => None,
    }
}

/// Headless Chromium with one tab, for one journey.
pub struct Browser {
    child: Child,
    connection: Arc<Connection>,
    session: String,
    base: String,
    viewport: Viewport,
    shots: PathBuf,
    step: AtomicU32,
    _profile: TempDir,
}

/// Where screenshots go: `target/e2e/<journey>/`.
fn screenshot_folder(journey: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let folder = target.join("e2e").join(journey);
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).expect("a folder for screenshots");
    folder
}

impl Browser {
    /// Starts Chromium (fresh profile) with one tab sized to `viewport`,
    /// pointed at nothing yet; screenshots go to `target/e2e/<journey>/`.
    pub async fn launch(app: &TestApp, journey: &str, viewport: Viewport) -> Browser {
        let program = std::env::var(CHROMIUM_VARIABLE).unwrap_or_else(|_| CHROMIUM.into());
        assert!(
            std::path::Path::new(&program).exists(),
            "the end-to-end suite needs Chromium at {program}: scripts/test installs \
             Debian's `chromium` package (apt-get install chromium)"
        );
        let profile = tempfile::tempdir().expect("a profile folder");
        // Two pipes: we write commands into the browser's fd 3, it answers on fd 4.
        let (browser_reads, we_write) = std::io::pipe().expect("a pipe");
        let (we_read, browser_writes) = std::io::pipe().expect("a pipe");
        let (read_fd, write_fd) = (browser_reads.as_raw_fd(), browser_writes.as_raw_fd());
        let mut command = Command::new(&program);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-default-apps",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-quic",
                "--no-proxy-server",
                "--hide-scrollbars",
                "--mute-audio",
                "--password-store=basic",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        // SAFETY: between fork and exec only async-signal-safe calls (fcntl,
        // dup2, close). The pipe ends are first moved above fd 10 so that
        // placing them at 3 and 4 cannot overwrite one another; dup2 onto a
        // different number clears close-on-exec, so both survive the exec.
        unsafe {
            command.pre_exec(move || {
                let high_read = libc::fcntl(read_fd, libc::F_DUPFD_CLOEXEC, 10);
                let high_write = libc::fcntl(write_fd, libc::F_DUPFD_CLOEXEC, 10);
                if high_read < 0
                    || high_write < 0
                    || libc::dup2(high_read, 3) < 0
                    || libc::dup2(high_write, 4) < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("Chromium starts");
        drop((browser_reads, browser_writes));

        let waiting = Arc::new(Mutex::new(HashMap::new()));
        let problems = Arc::new(Mutex::new(Vec::new()));
        {
            let (waiting, problems) = (waiting.clone(), problems.clone());
            std::thread::spawn(move || read_messages(we_read, waiting, problems));
        }
        let connection = Arc::new(Connection {
            writer: Mutex::new(we_write),
            next_id: AtomicU64::new(1),
            waiting,
            problems,
        });
        let target = connection
            .send(None, "Target.createTarget", json!({"url": "about:blank"}))
            .await
            .expect("a new tab");
        let attached = connection
            .send(
                None,
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await
            .expect("attached to the tab");
        let browser = Browser {
            child,
            connection,
            session: attached["sessionId"].as_str().unwrap().to_owned(),
            base: app.address.clone(),
            viewport,
            shots: screenshot_folder(journey),
            step: AtomicU32::new(0),
            _profile: profile,
        };
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            browser.cdp(domain, json!({})).await;
        }
        let mut browser = browser;
        browser.resize(viewport).await;
        browser
    }

    /// One DevTools command on this tab; a refusal fails the test.
    pub async fn cdp(&self, method: &str, params: Value) -> Value {
        self.connection
            .send(Some(&self.session), method, params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// Runs JavaScript in the page (DevTools' own evaluation, which the
    /// page's CSP and a disabled-script setting do not stop) and returns
    /// its value.
    pub async fn eval(&self, expression: &str) -> Result<Value, String> {
        let answer = self
            .connection
            .send(
                Some(&self.session),
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await?;
        if let Some(details) = answer.get("exceptionDetails") {
            return Err(details["exception"]["description"]
                .as_str()
                .unwrap_or("an exception")
                .to_owned());
        }
        Ok(answer["result"]["value"].clone())
    }

    /// Resizes the window (the next checks use the new width).
    pub async fn resize(&mut self, viewport: Viewport) {
        self.viewport = viewport;
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({
                "width": viewport.width,
                "height": viewport.height,
                "deviceScaleFactor": viewport.scale,
                "mobile": viewport.mobile,
            }),
        )
        .await;
    }

    /// Turns the page's own scripts off, as for a person who blocks them.
    pub async fn without_javascript(&self) {
        self.cdp(
            "Emulation.setScriptExecutionDisabled",
            json!({"value": true}),
        )
        .await;
    }

    // ---- what a person does -------------------------------------------

    /// Opens a path of the server under test, like typing it in the address bar.
    pub async fn open(&self, path: &str) {
        self.mark_page().await;
        self.cdp(
            "Page.navigate",
            json!({"url": format!("{}{path}", self.base)}),
        )
        .await;
        self.arrive(&format!("opening {path}")).await;
    }

    /// Opens a full address, like typing it in the address bar: an app
    /// behind the proxy, which may send the browser on to our pages. Our
    /// pages are checked and photographed; an app's are only photographed
    /// (their manners are not ours).
    pub async fn open_address(&self, url: &str) {
        self.mark_page().await;
        self.cdp("Page.navigate", json!({"url": url})).await;
        self.wait_until(
            "window.__e2eOldPage !== true && document.readyState === 'complete'",
            &format!("a new page after opening {url}"),
        )
        .await;
        self.photograph_or_settle(&format!("opening {url}")).await;
    }

    /// Waits until the browser is at the full address `url` (an app's page
    /// after a redirect or a script moved it on) and returns the page's text.
    pub async fn reaches_address(&self, url: &str) -> String {
        self.wait_until(
            &format!("location.href === {url:?} && document.readyState === 'complete'"),
            &format!("the browser to reach {url}"),
        )
        .await;
        self.photograph_or_settle(&format!("reaching {url}")).await;
        self.text().await
    }

    /// `settled_page` for our pages; only a screenshot for another server's.
    async fn photograph_or_settle(&self, what: &str) {
        let origin = self.eval("location.origin").await.unwrap_or_default();
        if origin.as_str() == Some(self.base.as_str()) {
            self.settled_page(what).await;
        } else {
            self.screenshot("app").await;
        }
    }

    /// Types `text` into the field whose label starts with `label`: clicks
    /// the field (so it must be visible and not covered), selects what it
    /// holds, and types over it.
    pub async fn fill(&self, label: &str, text: &str) {
        let field = format!(
            "Array.from(document.querySelectorAll('label')).filter(l => \
               l.innerText.trim().startsWith({label:?}) && l.control && __visible(l.control))\
               .map(l => l.control)"
        );
        self.click_at(&field, &format!("the field labelled {label:?}"))
            .await;
        let focused = self
            .eval(&format!(
                "{HELPERS}; (() => {{ const c = ({field})[0]; \
                   if (document.activeElement !== c) return false; \
                   if (typeof c.select === 'function') c.select(); return true; }})()"
            ))
            .await;
        assert_eq!(
            focused,
            Ok(json!(true)),
            "clicking the field labelled {label:?} did not put the cursor in it"
        );
        self.cdp("Input.insertText", json!({"text": text})).await;
    }

    /// Ticks the checkbox whose label starts with `label`, by clicking it.
    pub async fn tick(&self, label: &str) {
        let checkbox = format!(
            "Array.from(document.querySelectorAll('label')).filter(l => \
               l.innerText.trim().startsWith({label:?}) && l.control && __visible(l.control))\
               .map(l => l.control)"
        );
        self.click_at(&checkbox, &format!("the checkbox labelled {label:?}"))
            .await;
        let ticked = self
            .eval(&format!("{HELPERS}; ({checkbox})[0].checked"))
            .await;
        assert_eq!(ticked, Ok(json!(true)), "the box {label:?} is not ticked");
    }

    /// Clicks the button or link whose words (or accessible name) are
    /// `words`, and waits for the page it leads to.
    pub async fn click(&self, words: &str) {
        self.mark_page().await;
        self.press(words).await;
        self.arrive(&format!("clicking {words:?}")).await;
    }

    /// Clicks the button or link `words` without waiting for another page
    /// (a button whose script talks to a security key first).
    pub async fn press(&self, words: &str) {
        let target = format!(
            "Array.from(document.querySelectorAll('button, a[href], summary, input[type=submit]'))\
               .filter(e => __visible(e) && (e.getAttribute('aria-label') || e.innerText || e.value || '').trim() === {words:?})"
        );
        self.click_at(&target, &format!("the button or link {words:?}"))
            .await;
    }

    /// Waits until the page shows `text` somewhere a person can read it.
    pub async fn sees(&self, text: &str) {
        self.wait_until(
            &format!("document.body && document.body.innerText.includes({text:?})"),
            &format!("the page to show {text:?}"),
        )
        .await;
    }

    /// The words the page shows right now.
    pub async fn text(&self) -> String {
        self.eval("document.body ? document.body.innerText : ''")
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// The path of the current page (`/account`).
    pub async fn path(&self) -> String {
        self.eval("location.pathname")
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Waits until the browser is at `path` (after a script moved it on),
    /// then checks and photographs the page.
    pub async fn arrives_at(&self, path: &str) {
        self.wait_until(
            &format!("location.pathname === {path:?} && document.readyState === 'complete'"),
            &format!("the browser to reach {path}"),
        )
        .await;
        self.settled_page(&format!("reaching {path}")).await;
    }

    /// The text of the element that `selector` finds (the TOTP secret, a list).
    pub async fn text_of(&self, selector: &str) -> String {
        self.wait_until(
            &format!("!!document.querySelector({selector:?})"),
            &format!("an element {selector}"),
        )
        .await;
        self.eval(&format!("document.querySelector({selector:?}).innerText"))
            .await
            .unwrap()
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The text beside the field labelled `label`: the message its
    /// `aria-describedby` points to, which must sit right after the field.
    pub async fn error_beside(&self, label: &str) -> String {
        let found = self
            .eval(&format!(
                "{HELPERS}; (() => {{ \
                   const l = Array.from(document.querySelectorAll('label')).find(l => l.innerText.trim().startsWith({label:?}) && l.control); \
                   if (!l) return 'no field labelled ' + {label:?}; \
                   const c = l.control; \
                   if (c.getAttribute('aria-invalid') !== 'true') return 'the field is not marked invalid'; \
                   const id = c.getAttribute('aria-describedby'); \
                   const message = id && document.getElementById(id); \
                   if (!message || !__visible(message)) return 'no visible message describes the field'; \
                   const gap = message.getBoundingClientRect().top - c.getBoundingClientRect().bottom; \
                   if (gap < -1 || gap > 40) return 'the message is not beside the field (' + gap + ' px away)'; \
                   return {{message: message.innerText.trim()}}; }})()"
            ))
            .await
            .unwrap();
        match found["message"].as_str() {
            Some(message) => message.to_owned(),
            None => {
                self.screenshot("failure").await;
                panic!("an error beside {label:?}: {found}")
            }
        }
    }

    /// Saves a PNG of the whole page as `target/e2e/<journey>/NN-<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let step = self.step.fetch_add(1, Ordering::Relaxed) + 1;
        let metrics = self.cdp("Page.getLayoutMetrics", json!({})).await;
        let height = metrics["cssContentSize"]["height"]
            .as_f64()
            .unwrap_or(0.0)
            .max(f64::from(self.viewport.height));
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": {"x": 0, "y": 0, "width": self.viewport.width,
                             "height": height, "scale": 1},
                }),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        let file = self.shots.join(format!("{step:02}-{name}.png"));
        std::fs::write(&file, png).expect("the screenshot is saved");
        file
    }

    // ---- steps many journeys share ----------------------------------------

    /// Opens the sign-in page (at `path`, which may carry `?next=`) and gives
    /// a username and password.
    pub async fn sign_in_at(&self, path: &str, username: &str, password: &str) {
        self.open(path).await;
        self.fill("Username", username).await;
        self.fill("Password", password).await;
        self.click("Continue").await;
    }

    /// Signs in with a password and the current code of the app `secret`,
    /// one time step after the last code (a code works once).
    pub async fn sign_in_with_app(&self, app: &TestApp, username: &str, secret: &str) {
        self.sign_in_at("/login", username, crate::helpers::PASSWORD)
            .await;
        self.enters_app_code(app, secret).await;
    }

    /// On the second-factor page: types the app's next code and signs in.
    pub async fn enters_app_code(&self, app: &TestApp, secret: &str) {
        assert_eq!(self.path().await, "/login/second-factor");
        app.next_time_step();
        self.fill("Code from your authenticator app", &app.totp_code(secret))
            .await;
        self.click("Sign in").await;
    }

    /// On the step-up page ("Confirm it's you"): types the app's next code
    /// and confirms.
    pub async fn confirms_its_you(&self, app: &TestApp, secret: &str) {
        assert_eq!(self.path().await, "/reauthenticate");
        app.next_time_step();
        self.fill("Code from your authenticator app", &app.totp_code(secret))
            .await;
        self.click("Confirm").await;
    }

    /// Clicks "Sign out" on the account page (opening it first if need be).
    pub async fn sign_out(&self) {
        if self.path().await != "/account" {
            self.open("/account").await;
        }
        self.click("Sign out").await;
        assert_eq!(
            self.path().await,
            "/login",
            "signing out shows the sign-in page"
        );
    }

    // ---- the security key ---------------------------------------------

    /// Plugs in a virtual USB security key (CTAP2) that needs only a touch,
    /// touched automatically when a page asks. Returns its id.
    pub async fn plug_in_security_key(&self) -> String {
        self.plug_in_key(false).await
    }

    /// A virtual key that also checks a PIN (user verification).
    pub async fn plug_in_security_key_with_pin(&self) -> String {
        self.plug_in_key(true).await
    }

    async fn plug_in_key(&self, pin: bool) -> String {
        self.cdp("WebAuthn.enable", json!({"enableUI": false}))
            .await;
        let added = self
            .cdp(
                "WebAuthn.addVirtualAuthenticator",
                json!({"options": {
                    "protocol": "ctap2",
                    "ctap2Version": "ctap2_1",
                    "transport": "usb",
                    "hasResidentKey": true,
                    "hasUserVerification": pin,
                    "isUserVerified": pin,
                    "automaticPresenceSimulation": true,
                }}),
            )
            .await;
        added["authenticatorId"].as_str().unwrap().to_owned()
    }

    pub async fn unplug_security_key(&self, id: &str) {
        self.cdp(
            "WebAuthn.removeVirtualAuthenticator",
            json!({"authenticatorId": id}),
        )
        .await;
    }

    /// The signature counter of the key's only credential.
    pub async fn security_key_sign_count(&self, id: &str) -> u64 {
        let answer = self
            .cdp("WebAuthn.getCredentials", json!({"authenticatorId": id}))
            .await;
        let credentials = answer["credentials"].as_array().unwrap();
        assert_eq!(credentials.len(), 1, "the key holds one credential");
        credentials[0]["signCount"].as_u64().unwrap()
    }

    // ---- the machinery --------------------------------------------------

    /// Marks the current document, so that arriving on a new one shows.
    async fn mark_page(&self) {
        let _ = self.eval("window.__e2eOldPage = true").await;
    }

    /// Waits for a new document, then checks and photographs it.
    async fn arrive(&self, what: &str) {
        self.wait_until(
            "window.__e2eOldPage !== true && document.readyState === 'complete'",
            &format!("a new page after {what}"),
        )
        .await;
        self.settled_page(what).await;
    }

    /// Checks the page's manners and saves a screenshot named by its path.
    async fn settled_page(&self, what: &str) {
        let path = self.path().await;
        // `/enrol/totp/<uuid>` → `enrol-totp-id`
        let name = path
            .trim_matches('/')
            .split('/')
            .map(|part| {
                if part.len() == 36 && part.matches('-').count() == 4 {
                    "id"
                } else {
                    part
                }
            })
            .collect::<Vec<_>>()
            .join("-");
        let name = if name.is_empty() { "home".into() } else { name };
        self.screenshot(&name).await;
        self.check_manners(what).await;
    }

    /// What every page owes a person: a title, one heading, a label for
    /// every field, the right `autocomplete` on passwords and codes, a
    /// numeric keyboard for digit codes, no sideways scrolling at this
    /// width, nothing loaded from another site, no script errors.
    pub async fn check_manners(&self, what: &str) {
        let findings = self
            .eval(&format!(
                "{HELPERS}; var __width = {}; {MANNERS}",
                self.viewport.width
            ))
            .await
            .unwrap_or_else(|e| json!([format!("the check itself failed: {e}")]));
        let mut problems: Vec<String> = findings
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        problems.extend(std::mem::take(
            &mut *self.connection.problems.lock().unwrap(),
        ));
        if !problems.is_empty() {
            let path = self.path().await;
            let says: String = self.text().await.chars().take(400).collect();
            panic!(
                "the page {path} (after {what}) lacks good manners:\n  - {}\n  page says:\n{says}",
                problems.join("\n  - ")
            );
        }
    }

    /// Polls `condition` (JavaScript) until it holds, else fails the test
    /// with a screenshot, the address and the words on the page.
    pub async fn wait_until(&self, condition: &str, what: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if self.eval(condition).await == Ok(json!(true)) {
                return;
            }
            if Instant::now() > deadline {
                let shot = self.screenshot("failure").await;
                let at = self.eval("location.href").await.unwrap_or_default();
                panic!(
                    "timed out waiting for {what}\n  at {at}\n  screenshot {}\n  page says:\n{}",
                    shot.display(),
                    self.text().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Scrolls the first element that `candidates` (a JavaScript array)
    /// yields into view and clicks its middle with the mouse, failing if
    /// there is none or something else covers it.
    async fn click_at(&self, candidates: &str, what: &str) {
        let script = format!(
            "{HELPERS}; (() => {{ const e = ({candidates})[0]; if (!e) return null; \
               e.scrollIntoView({{block: 'center', inline: 'center'}}); \
               const r = e.getClientRects()[0] || e.getBoundingClientRect(); \
               const x = r.left + r.width / 2, y = r.top + r.height / 2; \
               const hit = document.elementFromPoint(x, y); \
               return {{x, y, covered: !(hit && (e === hit || e.contains(hit) || (e.labels && Array.from(e.labels).some(l => l.contains(hit)))))}}; }})()"
        );
        let deadline = Instant::now() + PATIENCE;
        let point = loop {
            match self.eval(&script).await {
                Ok(point) if point.is_object() => break point,
                _ if Instant::now() > deadline => {
                    let shot = self.screenshot("failure").await;
                    panic!(
                        "found no {what} on {} (screenshot {})\npage says:\n{}",
                        self.path().await,
                        shot.display(),
                        self.text().await
                    );
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        assert_eq!(
            point["covered"],
            json!(false),
            "{what} is covered by another element"
        );
        let (x, y) = (point["x"].as_f64().unwrap(), point["y"].as_f64().unwrap());
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.cdp(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )
            .await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ask politely, then make sure: the whole process group is ours.
        let _ = self
            .connection
            .writer
            .lock()
            .map(|mut w| w.write_all(b"{\"id\":0,\"method\":\"Browser.close\"}\0"));
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: signals the process group this Browser started (pgid = its pid).
        unsafe {
            libc::kill(-(self.child.id() as i32), libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// JavaScript helpers every check uses.
const HELPERS: &str = "var __visible = e => { \
       const s = getComputedStyle(e); const r = e.getBoundingClientRect(); \
       return s.visibility !== 'hidden' && s.display !== 'none' && r.width > 0 && r.height > 0; }";

/// JavaScript returning the list of what a page does wrong.
const MANNERS: &str = r#"(() => {
  const wrong = [];
  if (!document.title.trim()) wrong.push('the page has no title');
  if (document.documentElement.lang !== 'en') wrong.push('the page does not say its language');
  const headings = document.querySelectorAll('h1');
  if (headings.length !== 1) wrong.push('the page has ' + headings.length + ' main headings, not 1');
  const fields = Array.from(document.querySelectorAll('input, select, textarea'))
    .filter(f => !['hidden', 'submit', 'button'].includes(f.type) && !f.hidden);
  for (const f of fields) {
    const name = f.name || f.id || f.type;
    const labelled = (f.labels && f.labels.length > 0 && Array.from(f.labels).some(l => l.innerText.trim()))
      || (f.getAttribute('aria-label') || '').trim();
    if (!labelled) wrong.push('the field ' + name + ' has no label');
    const auto = f.getAttribute('autocomplete');
    if (f.type === 'password' && !['current-password', 'new-password'].includes(auto))
      wrong.push('the password field ' + name + ' has autocomplete=' + auto);
    if (f.inputMode === 'numeric' && auto !== 'one-time-code')
      wrong.push('the code field ' + name + ' has autocomplete=' + auto);
    if (f.getAttribute('pattern') === '[0-9 ]*' && f.inputMode !== 'numeric')
      wrong.push('the code field ' + name + ' opens no numeric keyboard');
    if (f.name === 'username' && !['username', 'username webauthn', 'off'].includes(auto))
      wrong.push('the username field has autocomplete=' + auto);
  }
  if (document.documentElement.scrollWidth > __width + 1)
    wrong.push('the page is ' + document.documentElement.scrollWidth + ' px wide in a ' + __width + ' px window');
  for (const e of document.querySelectorAll('[href], [src]')) {
    const url = e.getAttribute('href') || e.getAttribute('src');
    if (/^(data:|\/(?!\/)|#|\?)/.test(url)) continue;
    try { if (new URL(url, location.href).origin === location.origin) continue; } catch (_) {}
    if (e.tagName === 'A') continue;
    wrong.push('the page loads ' + url + ' from elsewhere');
  }
  for (const r of performance.getEntriesByType('resource'))
    if (new URL(r.name).origin !== location.origin && !r.name.startsWith('data:'))
      wrong.push('the page fetched ' + r.name);
  return wrong;
})()"#;
