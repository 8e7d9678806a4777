//! The test harness: a real server on a loopback port with a fresh store per
//! test (a SQLite file, or a PostgreSQL database when `TEST_STORE=postgres`),
//! a clock the test can move, and a client with a cookie jar.
#![allow(dead_code)] // Shared by every test module; not each one uses every helper.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};
use tempfile::TempDir;
use totp_rs::{Builder, Secret};
use twofold::auth::Auth;
use twofold::auth::Client;
use twofold::auth::clock::{Clock, ShiftedClock};
use twofold::config::{KeyText, Settings, StorageBackend};
use twofold::startup::{Application, build_auth, open_store};
use twofold::store::Store;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    /// `http://localhost:PORT`, the configured origin.
    pub address: String,
    pub port: u16,
    pub clock: Arc<ShiftedClock>,
    pub settings: Settings,
    /// The data folder; removed when the test ends.
    pub data: TempDir,
    /// The server, stopped when the test ends.
    _server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Settings for a test: port 0 on loopback, a fresh data folder, and the
/// store the suite runs on (see `use_test_store`).
pub fn test_settings(data: &std::path::Path) -> Settings {
    let mut settings = Settings::default();
    settings.server.listen = "127.0.0.1:0".into();
    settings.server.origin = "http://localhost:0".into();
    settings.server.workers = 2;
    settings.storage.path = data.to_path_buf();
    settings.log.level = "warn".into();
    use_test_store(&mut settings);
    settings
}

/// The store the integration suite runs on: `TEST_STORE=sqlite` (the
/// default) or `TEST_STORE=postgres`, which needs `TEST_POSTGRES_URL` (an
/// administrator's URL on a throwaway cluster, as `scripts/test` starts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestStore {
    Sqlite,
    Postgres,
}

impl TestStore {
    pub fn backend(self) -> StorageBackend {
        match self {
            TestStore::Sqlite => StorageBackend::Sqlite,
            TestStore::Postgres => StorageBackend::Postgres,
        }
    }

    pub fn current() -> Self {
        match std::env::var("TEST_STORE").as_deref() {
            Ok("postgres") => {
                assert!(
                    std::env::var("TEST_POSTGRES_URL").is_ok_and(|url| !url.is_empty()),
                    "TEST_STORE=postgres needs TEST_POSTGRES_URL (scripts/test starts a cluster \
                     and sets it)"
                );
                TestStore::Postgres
            }
            Ok("sqlite") | Ok("") | Err(_) => TestStore::Sqlite,
            Ok(other) => panic!("TEST_STORE must be sqlite or postgres, not {other:?}"),
        }
    }
}

/// True (and says so) when the suite runs on PostgreSQL: for the few tests
/// about SQLite's own file, which PostgreSQL doesn't have.
pub fn skipped_unless_sqlite(what: &str) -> bool {
    let skip = TestStore::current() == TestStore::Postgres;
    if skip {
        eprintln!("skipped on PostgreSQL: {what} is about the SQLite file");
    }
    skip
}

/// Points `settings` at the suite's store for its data folder: on
/// PostgreSQL, a database of its own named after the folder (created on
/// first use), so a test that starts a second server, or the binary, on the
/// same folder finds the same data.
pub fn use_test_store(settings: &mut Settings) {
    if TestStore::current() == TestStore::Postgres {
        settings.storage.backend = StorageBackend::Postgres;
        settings.storage.url = KeyText(postgres_database_for(&settings.storage.path));
    }
}

/// The environment that gives the `twofold` binary the suite's store for
/// the data folder `data`.
pub fn store_env(data: &std::path::Path) -> Vec<(&'static str, String)> {
    let mut env = vec![("TWOFOLD_STORAGE_PATH", data.display().to_string())];
    if TestStore::current() == TestStore::Postgres {
        env.push(("TWOFOLD_STORAGE_BACKEND", "postgres".into()));
        env.push(("TWOFOLD_STORAGE_URL", postgres_database_for(data)));
    }
    env
}

/// The URL of a database of the test cluster kept for `data` (made on first
/// use, on a thread of its own so sync and async tests can both call it).
pub fn postgres_database_for(data: &std::path::Path) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut hasher);
    let name = format!("twofold_test_{:016x}", hasher.finish());
    let admin = std::env::var("TEST_POSTGRES_URL").expect("TEST_POSTGRES_URL");
    static MADE: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut made = MADE.lock().unwrap_or_else(|e| e.into_inner());
    if !made.contains(&name) {
        let (admin, database) = (admin.clone(), name.clone());
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(create_database(&admin, &database))
        })
        .join()
        .expect("the test database is created");
        made.push(name.clone());
    }
    let mut url = url::Url::parse(&admin).expect("TEST_POSTGRES_URL is a URL");
    url.set_path(&name);
    url.to_string()
}

async fn create_database(admin: &str, name: &str) {
    let (client, connection) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
        .await
        .expect("the test cluster answers at TEST_POSTGRES_URL");
    tokio::spawn(connection);
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .unwrap()
        .is_some();
    if !exists {
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("CREATE DATABASE");
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server after `adjust` changed its settings.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let data = tempfile::tempdir().expect("a temporary folder");
    let mut settings = test_settings(data.path());
    adjust(&mut settings);
    // A test may have pointed the server at another test's data folder.
    if settings.storage.backend == TestStore::current().backend() {
        use_test_store(&mut settings);
    }
    let clock = Arc::new(ShiftedClock::default());
    let app = Application::build_with_clock(settings.clone(), clock.clone())
        .await
        .expect("the application builds");
    let port = app.port();
    settings.server.origin = app.origin().to_owned();
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://localhost:{port}"),
        port,
        clock,
        settings,
        data,
        _server: server,
    }
}

/// A fresh, empty store of the kind the suite runs on, for the store
/// conformance checks; its data goes when it is dropped.
pub struct FreshStore {
    pub store: Arc<dyn Store>,
    _data: TempDir,
}

impl std::ops::Deref for FreshStore {
    type Target = Arc<dyn Store>;
    fn deref(&self) -> &Self::Target {
        &self.store
    }
}

pub async fn fresh_store() -> FreshStore {
    let data = tempfile::tempdir().expect("a temporary folder");
    let settings = test_settings(data.path());
    let store = open_store(&settings).await.expect("the store opens");
    FreshStore { store, _data: data }
}

/// A second server on the same store as `first` (its database, data folder,
/// secrets key and clock), reached at its own port but configured with the
/// same public origin, as two instances behind one proxy are.
pub async fn spawn_instance_beside(first: &TestApp) -> TestApp {
    let data = tempfile::tempdir().expect("a temporary folder");
    let mut settings = first.settings.clone();
    settings.server.listen = "127.0.0.1:0".into();
    let app = Application::build_with_clock(settings.clone(), first.clock.clone())
        .await
        .expect("the second instance builds");
    let port = app.port();
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://localhost:{port}"),
        port,
        clock: first.clock.clone(),
        settings,
        data,
        _server: server,
    }
}

/// A browser-like client whose cookie jar the test can read (e.g. to hash
/// the session token, or to replay a saved cookie).
pub fn client_with_jar() -> (reqwest::Client, Arc<reqwest::cookie::Jar>) {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let c = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(CLIENT_IDLE)
        .build()
        .unwrap();
    (c, jar)
}

/// Idle connections are dropped well before the server's 5 s keep-alive ends
/// them: on a loaded machine a request sent on a connection the server is
/// closing at that moment fails with `IncompleteMessage`.
const CLIENT_IDLE: std::time::Duration = std::time::Duration::from_secs(2);

/// A browser-like client: keeps cookies, does not follow redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(CLIENT_IDLE)
        .build()
        .unwrap()
}

/// The code an authenticator app shows for `secret` (base32) at `unix_time`,
/// computed independently of twofold's own TOTP code.
pub fn totp_code_at(secret: &str, unix_time: i64) -> String {
    let bytes = Secret::try_from_base32(secret).expect("a base32 secret");
    Builder::new()
        .with_secret(bytes.as_ref().to_vec())
        .build()
        .expect("a valid TOTP")
        .generate(unix_time as u64)
        .to_string()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// The domain service over the same database, as the CLI would open it.
    pub async fn auth(&self) -> Auth {
        build_auth(self.settings.clone(), self.clock.clone())
            .await
            .unwrap()
    }

    /// The store the server uses, opened beside it.
    pub async fn store(&self) -> Arc<dyn Store> {
        open_store(&self.settings).await.expect("the store opens")
    }

    pub fn database_file(&self) -> PathBuf {
        self.settings.database_file()
    }

    pub async fn create_user(&self, username: &str, admin: bool) {
        self.auth()
            .await
            .create_user(username, &PASSWORD.into(), admin, None, &Client::cli())
            .await
            .expect("the user is created");
    }

    /// The code an app shows right now on the server's clock.
    pub fn totp_code(&self, secret: &str) -> String {
        totp_code_at(secret, self.clock.now())
    }

    /// Moves the server's clock to the next TOTP time step, so a new code exists.
    pub fn next_time_step(&self) {
        self.clock.advance(30);
    }

    pub async fn post(
        &self,
        client: &reqwest::Client,
        path: &str,
        body: Value,
    ) -> reqwest::Response {
        client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// A request with any method, and a JSON body when one is given.
    pub async fn call(
        &self,
        client: &reqwest::Client,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = client.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.unwrap()
    }

    pub async fn get(&self, client: &reqwest::Client, path: &str) -> reqwest::Response {
        client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn login(
        &self,
        client: &reqwest::Client,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        self.post(
            client,
            "/api/v1/login",
            json!({"username": username, "password": password}),
        )
        .await
    }

    /// First login of a new user: password, enrol an app, confirm it. Returns
    /// the client (now holding a session), the app's base32 secret and its
    /// device id.
    pub async fn signed_in_user_with_totp(
        &self,
        username: &str,
    ) -> (reqwest::Client, String, String) {
        self.create_user(username, false).await;
        self.first_sign_in_enrolling_totp(username).await
    }

    /// A full sign-in with password and the app's current code (moving the
    /// clock one step first, so the code is fresh).
    pub async fn sign_in_with_totp(&self, username: &str, secret: &str) -> reqwest::Client {
        let client = client();
        self.sign_in_with_totp_using(&client, username, secret)
            .await;
        client
    }

    /// As `sign_in_with_totp`, with a client the test made.
    pub async fn sign_in_with_totp_using(
        &self,
        client: &reqwest::Client,
        username: &str,
        secret: &str,
    ) {
        let client = client.clone();
        let answer = self.login(&client, username, PASSWORD).await;
        assert_eq!(answer.status(), 200);
        self.next_time_step();
        let code = self.totp_code(secret);
        let answer = self
            .post(&client, "/api/v1/login/totp", json!({"code": code}))
            .await;
        assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
    }
}

/// The `Set-Cookie` header a response gives for cookie `name`, if any.
pub fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with(&prefix))
}

/// Asserts an API error answer: status and `{"error": code, "message": …}`.
pub async fn assert_error(response: reqwest::Response, status: u16, code: &str) {
    assert_eq!(
        response.status().as_u16(),
        status,
        "status of {}",
        response.url()
    );
    let body: Value = response.json().await.expect("a JSON error body");
    assert_eq!(body["error"], code, "body: {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "body: {body}"
    );
}

/// Administrators and test fixtures for administration.
impl TestApp {
    /// A new administrator's first sign-in: created with `admin: true`, then
    /// the usual enrolment of an app. Returns the client (holding a session),
    /// the app's base32 secret and its device id.
    pub async fn signed_in_admin_with_totp(
        &self,
        username: &str,
    ) -> (reqwest::Client, String, String) {
        self.create_user(username, true).await;
        self.first_sign_in_enrolling_totp(username).await
    }

    /// The first sign-in of an existing user with no second factor: password,
    /// then enrol and confirm an app named "phone".
    pub async fn first_sign_in_enrolling_totp(
        &self,
        username: &str,
    ) -> (reqwest::Client, String, String) {
        let client = client();
        let answer: Value = self
            .login(&client, username, PASSWORD)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(answer["status"], "enrolment_required");
        let enrolment: Value = self
            .post(&client, "/api/v1/me/totp", json!({"name": "phone"}))
            .await
            .json()
            .await
            .unwrap();
        let secret = enrolment["secret"].as_str().unwrap().to_owned();
        let id = enrolment["id"].as_str().unwrap().to_owned();
        let confirmed = self
            .post(
                &client,
                &format!("/api/v1/me/totp/{id}/confirm"),
                json!({"code": self.totp_code(&secret)}),
            )
            .await;
        assert_eq!(confirmed.status(), 200);
        (client, secret, id)
    }

    pub async fn delete(&self, client: &reqwest::Client, path: &str) -> reqwest::Response {
        client.delete(self.url(path)).send().await.unwrap()
    }

    /// Server time now, as the server's clock reads it.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}
