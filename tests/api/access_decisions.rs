//! Who may reach what, over real HTTP: `/api/v1/verify` judging each
//! proxied request by the policies (allowed, step-up, forbidden), delegated
//! administration, the simulator (API and command line), the audit trail,
//! and a change on one instance applying on another.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestApp, TestStore, assert_error, spawn_app_with, spawn_instance_beside};

const GRAFANA: &str = "https://grafana.example.com";

/// Grafana for ops; its admin pages need a security key; /fresh needs a
/// factor from the last five minutes; /secret is never reachable.
fn grafana_policy() -> Value {
    json!({"Version": "2026-12-01", "Statement": [
        {"Sid": "UseGrafana", "Effect": "Allow", "Action": ["http:GET", "http:POST"],
         "Resource": "https://grafana.example.com/*"},
        {"Sid": "AdminNeedsKey", "Effect": "Deny", "Action": "http:*",
         "Resource": "https://grafana.example.com/admin/*",
         "Condition": {"Bool": {"twofold:PhishingResistant": "false"}}},
        {"Sid": "FreshNeedsRecent", "Effect": "Deny", "Action": "http:*",
         "Resource": "https://grafana.example.com/fresh/*",
         "Condition": {"NumericGreaterThan": {"twofold:MultiFactorAuthAge": 300}}},
        {"Sid": "NeverSecret", "Effect": "Deny", "Action": "http:*",
         "Resource": "https://grafana.example.com/secret/*"}]})
}

fn helpdesk_policy() -> Value {
    json!({"Version": "2026-12-01", "Statement": [
        {"Sid": "Helpdesk", "Effect": "Allow",
         "Action": ["twofold:ResetMfa", "twofold:ListUsers"], "Resource": "*"}]})
}

/// An admin client that has just passed its second factor.
pub(crate) struct Admin {
    pub(crate) client: reqwest::Client,
}

impl Admin {
    pub(crate) async fn new(app: &TestApp) -> Self {
        let (client, _, _) = app.signed_in_admin_with_totp("root").await;
        Self { client }
    }

    pub(crate) async fn put(&self, app: &TestApp, path: &str, body: Option<&Value>) {
        let answer = app
            .call(&self.client, "PUT", &format!("/api/v1/admin{path}"), body)
            .await;
        assert!(
            answer.status().is_success(),
            "PUT {path}: {} {}",
            answer.status(),
            answer.text().await.unwrap()
        );
    }

    /// Policy `name` with `document`, attached to group `group`, of which
    /// `members` are members.
    pub(crate) async fn grant(
        &self,
        app: &TestApp,
        name: &str,
        document: &Value,
        group: &str,
        members: &[&str],
    ) {
        self.put(app, &format!("/policies/{name}"), Some(document))
            .await;
        self.put(app, &format!("/groups/{group}"), None).await;
        for member in members {
            self.put(app, &format!("/groups/{group}/members/{member}"), None)
                .await;
        }
        self.put(app, &format!("/groups/{group}/policies/{name}"), None)
            .await;
    }
}

/// `/api/v1/verify` as nginx calls it for `method url`.
async fn verify_nginx(
    app: &TestApp,
    c: &reqwest::Client,
    method: &str,
    url: &str,
) -> reqwest::Response {
    c.get(app.url("/api/v1/verify"))
        .header("X-Original-Method", method)
        .header("X-Original-URL", url)
        .send()
        .await
        .unwrap()
}

/// As Traefik's forwardAuth calls it.
async fn verify_traefik(
    app: &TestApp,
    c: &reqwest::Client,
    method: &str,
    host: &str,
    uri: &str,
) -> reqwest::Response {
    c.get(app.url("/api/v1/verify"))
        .header("X-Forwarded-Method", method)
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", host)
        .header("X-Forwarded-Uri", uri)
        .send()
        .await
        .unwrap()
}

fn location(answer: &reqwest::Response) -> String {
    answer.headers()["location"].to_str().unwrap().to_owned()
}

/// The address of the step-up page forward-auth sends a browser to.
fn step_up_location(app: &TestApp, rd: &str, require: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("rd", rd)
        .append_pair("require", require)
        .finish();
    format!("{}/reauthenticate?{query}", app.address)
}

async fn app_for_example_com(default_decision: &str) -> TestApp {
    let default_decision = match default_decision {
        "deny" => twofold::config::DefaultDecision::Deny,
        _ => twofold::config::DefaultDecision::Allow,
    };
    spawn_app_with(move |s| {
        s.server.allowed_redirect_domains = vec![".example.com".into()];
        s.access.default_decision = default_decision;
    })
    .await
}

async fn audit_events(app: &TestApp, admin: &Admin, event: &str) -> Vec<Value> {
    let events: Value = app
        .get(
            &admin.client,
            "/api/v1/admin/audit?username=alice&limit=1000",
        )
        .await
        .json()
        .await
        .unwrap();
    events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == event)
        .cloned()
        .collect()
}

#[tokio::test]
async fn verify_allows_steps_up_or_forbids_each_request_by_the_policies() {
    let app = app_for_example_com("allow").await;
    let admin = Admin::new(&app).await;
    let (_, secret, _) = app.signed_in_user_with_totp("alice").await;
    admin
        .grant(&app, "grafana", &grafana_policy(), "ops", &["alice"])
        .await;
    let alice = app.sign_in_with_totp("alice", &secret).await;

    let allowed = verify_nginx(&app, &alice, "GET", &format!("{GRAFANA}/d/1?orgId=1")).await;
    assert_eq!(allowed.status(), 200);
    assert_eq!(allowed.headers()["remote-user"], "alice");
    assert_eq!(allowed.headers()["remote-groups"], "ops");
    assert_eq!(allowed.headers()["remote-admin"], "false");

    // A code is not a security key: the admin pages ask for one.
    let admin_page = format!("{GRAFANA}/admin/users?tab=1");
    let key_needed = verify_nginx(&app, &alice, "GET", &admin_page).await;
    assert_eq!(key_needed.status(), 401);
    assert_eq!(
        location(&key_needed),
        step_up_location(&app, &admin_page, "security_key")
    );
    assert_error(key_needed, 401, "reauthentication_required").await;

    // Written to dodge the rule, read as the app reads it.
    for dodge in [
        "/x/../admin/users",
        "//admin/users",
        "/%61dmin/users",
        "/x/%2e%2e/admin/",
    ] {
        let answer = verify_nginx(&app, &alice, "GET", &format!("{GRAFANA}{dodge}")).await;
        assert_eq!(answer.status(), 401, "{dodge}");
    }

    let secret_page = verify_nginx(&app, &alice, "GET", &format!("{GRAFANA}/secret/plans")).await;
    assert_error(secret_page, 403, "forbidden").await;

    // The default decides what no statement names (default allow) ...
    let elsewhere = verify_nginx(&app, &alice, "GET", "https://wiki.example.com/").await;
    assert_eq!(elsewhere.status(), 200);
    // ... and another method on Grafana is allowed by default too.
    assert_eq!(
        verify_nginx(&app, &alice, "DELETE", &format!("{GRAFANA}/d/1"))
            .await
            .status(),
        200
    );

    // Six minutes on, /fresh needs a second factor again.
    let fresh = format!("{GRAFANA}/fresh/deploy");
    assert_eq!(
        verify_nginx(&app, &alice, "POST", &fresh).await.status(),
        200
    );
    app.clock.advance(301);
    let stale = verify_nginx(&app, &alice, "POST", &fresh).await;
    assert_eq!(stale.status(), 401);
    assert_eq!(location(&stale), step_up_location(&app, &fresh, "recent"));

    // The step-up page takes a code and returns to the app.
    app.next_time_step();
    let code = app.totp_code(&secret);
    let stepped = alice
        .post(app.url("/reauthenticate"))
        .form(&[("code", code.as_str()), ("rd", fresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(stepped.status(), 303);
    assert_eq!(location(&stepped), fresh);
    assert_eq!(
        verify_nginx(&app, &alice, "POST", &fresh).await.status(),
        200
    );
}

#[tokio::test]
async fn traefik_headers_are_judged_the_same_way() {
    let app = app_for_example_com("allow").await;
    let admin = Admin::new(&app).await;
    let (_, secret, _) = app.signed_in_user_with_totp("alice").await;
    admin
        .grant(&app, "grafana", &grafana_policy(), "ops", &["alice"])
        .await;
    let alice = app.sign_in_with_totp("alice", &secret).await;
    let host = "grafana.example.com";
    assert_eq!(
        verify_traefik(&app, &alice, "GET", host, "/d/1")
            .await
            .status(),
        200
    );
    let key_needed = verify_traefik(&app, &alice, "GET", host, "/admin/users").await;
    assert_eq!(key_needed.status(), 401);
    assert_eq!(
        location(&key_needed),
        step_up_location(&app, &format!("{GRAFANA}/admin/users"), "security_key")
    );
    assert_error(
        verify_traefik(&app, &alice, "GET", host, "/secret/x").await,
        403,
        "forbidden",
    )
    .await;
    // Traefik shows the body of a refusal: a browser gets the page.
    let page = alice
        .get(app.url("/api/v1/verify"))
        .header("Accept", "text/html,application/xhtml+xml")
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", host)
        .header("X-Forwarded-Uri", "/secret/x")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 403);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("You don&#39;t have access") || html.contains("You don't have access"),
        "{html}"
    );
    assert!(
        html.contains("https://grafana.example.com/secret/x"),
        "{html}"
    );
}

#[tokio::test]
async fn least_privilege_allows_only_what_a_policy_allows() {
    let app = app_for_example_com("deny").await;
    let admin = Admin::new(&app).await;
    let (_, secret, _) = app.signed_in_user_with_totp("alice").await;
    let (_, bob_secret, _) = app.signed_in_user_with_totp("bob").await;
    admin
        .grant(&app, "grafana", &grafana_policy(), "ops", &["alice"])
        .await;
    let alice = app.sign_in_with_totp("alice", &secret).await;
    let bob = app.sign_in_with_totp("bob", &bob_secret).await;
    assert_eq!(
        verify_nginx(&app, &alice, "GET", &format!("{GRAFANA}/d/1"))
            .await
            .status(),
        200
    );
    assert_error(
        verify_nginx(&app, &alice, "DELETE", &format!("{GRAFANA}/d/1")).await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        verify_nginx(&app, &alice, "GET", "https://wiki.example.com/").await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        verify_nginx(&app, &bob, "GET", &format!("{GRAFANA}/d/1")).await,
        403,
        "forbidden",
    )
    .await;
    let bobs = bob.get(app.url("/api/v1/verify")).send().await.unwrap();
    assert_error(bobs, 403, "forbidden").await;
    // No session is still the sign-in page, whatever the policies.
    let nobody = verify_nginx(
        &app,
        &crate::helpers::client(),
        "GET",
        &format!("{GRAFANA}/d/1"),
    )
    .await;
    assert_eq!(nobody.status(), 401);
    assert!(
        location(&nobody).contains("/login?rd="),
        "{}",
        location(&nobody)
    );
    // A URL that can't be read is refused, not judged as "no URL".
    let garbled = verify_nginx(&app, &alice, "GET", "https://exa mple.com/").await;
    assert_error(garbled, 400, "invalid_request").await;
}

#[tokio::test]
async fn denials_are_audited_once_a_minute_per_user_and_url_and_counted() {
    let app = app_for_example_com("allow").await;
    let admin = Admin::new(&app).await;
    let (_, secret, _) = app.signed_in_user_with_totp("alice").await;
    admin
        .grant(&app, "grafana", &grafana_policy(), "ops", &["alice"])
        .await;
    let alice = app.sign_in_with_totp("alice", &secret).await;
    let secret_page = format!("{GRAFANA}/secret/plans");
    for _ in 0..5 {
        assert_eq!(
            verify_nginx(&app, &alice, "GET", &secret_page)
                .await
                .status(),
            403
        );
    }
    let events = audit_events(&app, &admin, "access_denied").await;
    assert_eq!(events.len(), 1, "{events:?}");
    let detail = events[0]["detail"].as_str().unwrap();
    assert!(detail.contains("method=GET"), "{detail}");
    assert!(detail.contains(&format!("url={secret_page}")), "{detail}");
    assert!(detail.contains("statement=grafana/NeverSecret"), "{detail}");
    app.clock.advance(61);
    assert_eq!(
        verify_nginx(&app, &alice, "GET", &secret_page)
            .await
            .status(),
        403
    );
    assert_eq!(audit_events(&app, &admin, "access_denied").await.len(), 2);

    verify_nginx(&app, &alice, "GET", &format!("{GRAFANA}/admin/x")).await;
    let metrics = app
        .get(&crate::helpers::client(), "/metrics")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"twofold_verify_decisions_total{decision="forbidden"} 6"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"twofold_verify_decisions_total{decision="step_up"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_helpdesk_group_can_reset_second_factors_and_list_users_and_nothing_else() {
    let app = app_for_example_com("allow").await;
    let admin = Admin::new(&app).await;
    let (_, hana_secret, _) = app.signed_in_user_with_totp("hana").await;
    app.signed_in_user_with_totp("alice").await;
    admin
        .grant(&app, "helpdesk", &helpdesk_policy(), "helpdesk", &["hana"])
        .await;
    let hana = app.sign_in_with_totp("hana", &hana_secret).await;

    let users = app.get(&hana, "/api/v1/admin/users").await;
    assert_eq!(users.status(), 200);
    let reset = app.delete(&hana, "/api/v1/admin/users/alice/devices").await;
    assert_eq!(reset.status(), 204, "{}", reset.text().await.unwrap());
    let login: Value = app
        .login(&crate::helpers::client(), "alice", crate::helpers::PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(login["status"], "enrolment_required", "the reset happened");

    let create = app
        .post(
            &hana,
            "/api/v1/admin/users",
            json!({"username": "eve", "password": crate::helpers::PASSWORD}),
        )
        .await;
    assert_error(create, 403, "forbidden").await;
    assert_error(
        app.post(&hana, "/api/v1/admin/users/alice/disable", json!({}))
            .await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        app.get(&hana, "/api/v1/admin/audit").await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        app.get(&hana, "/api/v1/admin/groups").await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        app.call(
            &hana,
            "PUT",
            "/api/v1/admin/groups/helpdesk/members/hana",
            None,
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    // An administrator is beyond a helpdesk's reach.
    assert_error(
        app.delete(&hana, "/api/v1/admin/users/root/devices").await,
        403,
        "forbidden",
    )
    .await;
    // Someone in no group reaches nothing administrative.
    let alice_again = app.first_sign_in_enrolling_totp("alice").await.0;
    assert_error(
        app.get(&alice_again, "/api/v1/admin/users").await,
        403,
        "forbidden",
    )
    .await;

    let events = audit_events(&app, &admin, "mfa_reset").await;
    assert!(
        events[0]["detail"].as_str().unwrap().contains("by=hana"),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_delegated_create_user_is_judged_on_the_new_name() {
    let app = app_for_example_com("allow").await;
    let admin = Admin::new(&app).await;
    let (_, secret, _) = app.signed_in_user_with_totp("olga").await;
    let contractors = json!({"Version": "2026-12-01", "Statement": [
        {"Effect": "Allow", "Action": "twofold:CreateUser", "Resource": "twofold:user/contractor-*"}]});
    admin
        .grant(&app, "contractors", &contractors, "onboarding", &["olga"])
        .await;
    let olga = app.sign_in_with_totp("olga", &secret).await;
    let body = |name: &str, admin: bool| json!({"username": name, "password": crate::helpers::PASSWORD, "admin": admin});
    assert_eq!(
        app.post(&olga, "/api/v1/admin/users", body("contractor-ann", false))
            .await
            .status(),
        201
    );
    assert_error(
        app.post(&olga, "/api/v1/admin/users", body("ann", false))
            .await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        app.post(&olga, "/api/v1/admin/users", body("contractor-boss", true))
            .await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn the_simulator_explains_a_decision() {
    let app = app_for_example_com("allow").await;
    let admin = Admin::new(&app).await;
    let (alice, _, _) = app.signed_in_user_with_totp("alice").await;
    admin
        .grant(&app, "grafana", &grafana_policy(), "ops", &["alice"])
        .await;
    let simulate = |body: Value| {
        let admin = &admin.client;
        let app = &app;
        async move { app.post(admin, "/api/v1/admin/simulate", body).await }
    };
    let answer: Value = simulate(json!({"username": "alice", "action": "http:GET",
        "resource": format!("{GRAFANA}/admin/users"), "context": {"twofold:PhishingResistant": false}}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer,
        json!({"decision": "deny", "by_default": false, "by_admin": false, "matched": [
        {"policy": "grafana", "sid": "UseGrafana", "effect": "Allow"},
        {"policy": "grafana", "sid": "AdminNeedsKey", "effect": "Deny"}]})
    );
    let by_default: Value = simulate(
        json!({"username": "alice", "action": "http:GET", "resource": "https://wiki.example.com/"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        by_default,
        json!({"decision": "allow", "by_default": true, "by_admin": false, "matched": []})
    );
    let admin_action: Value =
        simulate(json!({"username": "alice", "action": "twofold:ListUsers", "resource": "*"}))
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(admin_action["decision"], "implicit_deny");
    assert_error(
        simulate(json!({"username": "nobody", "action": "http:GET", "resource": "*"})).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        simulate(json!({"username": "alice", "action": "http:GET", "resource": "*", "context": {"aws:SourceIp": "1.2.3.4"}})).await,
        400,
        "invalid_request",
    )
    .await;
    assert_error(
        app.post(
            &alice,
            "/api/v1/admin/simulate",
            json!({"username": "alice", "action": "http:GET", "resource": "*"}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn the_simulate_command_prints_the_statements_and_exits_by_the_decision() {
    let app = app_for_example_com("allow").await;
    let admin = Admin::new(&app).await;
    app.signed_in_user_with_totp("alice").await;
    admin
        .grant(&app, "grafana", &grafana_policy(), "ops", &["alice"])
        .await;
    let data = app.data.path();
    let secret_page = format!("{GRAFANA}/secret/x");
    let denied = crate::cli::twofold(
        data,
        &["policy", "simulate", "alice", "http:GET", &secret_page],
        "",
    );
    let out = String::from_utf8_lossy(&denied.stdout);
    assert_eq!(
        denied.status.code(),
        Some(1),
        "{out} {}",
        String::from_utf8_lossy(&denied.stderr)
    );
    assert!(out.contains("decision: deny"), "{out}");
    assert!(
        out.contains("NeverSecret") && out.contains("UseGrafana"),
        "{out}"
    );
    let allowed = crate::cli::twofold(
        data,
        &[
            "policy",
            "simulate",
            "alice",
            "http:GET",
            &format!("{GRAFANA}/d/1"),
        ],
        "",
    );
    let out = String::from_utf8_lossy(&allowed.stdout);
    assert_eq!(allowed.status.code(), Some(0), "{out}");
    assert!(out.contains("decision: allow"), "{out}");
    let key = crate::cli::twofold(
        data,
        &[
            "policy",
            "simulate",
            "alice",
            "http:GET",
            &format!("{GRAFANA}/admin/x"),
            "--context",
            r#"{"twofold:PhishingResistant": true}"#,
        ],
        "",
    );
    assert_eq!(
        key.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&key.stdout)
    );
}

#[tokio::test]
async fn a_change_on_one_instance_applies_on_the_other_within_seconds() {
    if TestStore::current() != TestStore::Postgres {
        eprintln!("skipped on SQLite: several instances need PostgreSQL");
        return;
    }
    let a = app_for_example_com("allow").await;
    let b = spawn_instance_beside(&a).await;
    let admin = Admin::new(&a).await;
    let (_, secret, _) = a.signed_in_user_with_totp("alice").await;
    let alice = b.sign_in_with_totp("alice", &secret).await;
    let wiki = "https://wiki.example.com/";
    assert_eq!(verify_nginx(&b, &alice, "GET", wiki).await.status(), 200);
    let no_wiki = json!({"Version": "2026-12-01", "Statement": [
        {"Sid": "NoWiki", "Effect": "Deny", "Action": "http:*", "Resource": "https://wiki.example.com/*"}]});
    admin
        .grant(&a, "no-wiki", &no_wiki, "ops", &["alice"])
        .await;
    // Polled: B reads the access version at most once a second.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = verify_nginx(&b, &alice, "GET", wiki).await.status();
        if status == 403 {
            break;
        }
        assert!(Instant::now() < deadline, "B still answers {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_path_needing_a_key_lets_in_after_a_key_step_up_and_signing_in_with_a_key() {
    use crate::soft_key::{Key, add_key, sign_in_with_key, step_up_with_key};
    let app = app_for_example_com("allow").await;
    let admin = Admin::new(&app).await;
    let (enrolling, secret, _) = app.signed_in_user_with_totp("alice").await;
    let mut key = Key::new();
    add_key(&app, &enrolling, &mut key, "YubiKey").await;
    admin
        .grant(&app, "grafana", &grafana_policy(), "ops", &["alice"])
        .await;
    let admin_page = format!("{GRAFANA}/admin/users");

    // Signed in with a code: the key is asked for, then lets them in.
    let alice = app.sign_in_with_totp("alice", &secret).await;
    let asked = verify_nginx(&app, &alice, "GET", &admin_page).await;
    assert_eq!(
        location(&asked),
        step_up_location(&app, &admin_page, "security_key")
    );
    let page = app
        .get(
            &alice,
            &format!(
                "/reauthenticate?rd={}&require=security_key",
                url::form_urlencoded::byte_serialize(admin_page.as_bytes()).collect::<String>()
            ),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("needs your security key"), "{page}");
    assert!(
        !page.contains("name=\"code\""),
        "no code field when a key is required: {page}"
    );
    assert!(
        page.contains(&format!("data-done=\"{admin_page}\"")),
        "{page}"
    );
    // A code is not enough.
    app.next_time_step();
    let code = app.totp_code(&secret);
    alice
        .post(app.url("/reauthenticate"))
        .form(&[("code", code.as_str()), ("rd", admin_page.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        verify_nginx(&app, &alice, "GET", &admin_page)
            .await
            .status(),
        401
    );
    let stepped = step_up_with_key(&app, &alice, &mut key).await;
    assert_eq!(stepped.status(), 200, "{}", stepped.text().await.unwrap());
    assert_eq!(
        verify_nginx(&app, &alice, "GET", &admin_page)
            .await
            .status(),
        200
    );

    // Signed in with the key: in at once.
    let with_key = sign_in_with_key(&app, "alice", &mut key).await;
    assert_eq!(
        verify_nginx(&app, &with_key, "GET", &admin_page)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_remembered_browser_counts_the_age_of_the_factor_it_remembered() {
    let app = spawn_app_with(|s| {
        s.server.allowed_redirect_domains = vec![".example.com".into()];
        s.session.remember_browser_days = 30;
    })
    .await;
    let admin = Admin::new(&app).await;
    let (_, secret, _) = app.signed_in_user_with_totp("alice").await;
    admin
        .grant(&app, "grafana", &grafana_policy(), "ops", &["alice"])
        .await;

    // Password and code, remembering this browser.
    let laptop = crate::helpers::client();
    let answer = app.login(&laptop, "alice", crate::helpers::PASSWORD).await;
    assert_eq!(answer.status(), 200);
    app.next_time_step();
    let code = app.totp_code(&secret);
    let answer = app
        .post(
            &laptop,
            "/api/v1/login/totp",
            json!({"code": code, "remember_browser": true}),
        )
        .await;
    assert_eq!(answer.status(), 200);
    let fresh = format!("{GRAFANA}/fresh/report");
    assert_eq!(
        verify_nginx(&app, &laptop, "GET", &fresh).await.status(),
        200
    );
    assert_eq!(
        app.post(&laptop, "/api/v1/logout", json!({}))
            .await
            .status(),
        204
    );

    // An hour later the password alone signs in, but the remembered factor
    // is an hour old: a path asking for one under five minutes steps up.
    app.clock.advance(3600);
    let answer: Value = app
        .login(&laptop, "alice", crate::helpers::PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"], "authenticated", "{answer}");
    let everyday = verify_nginx(&app, &laptop, "GET", &format!("{GRAFANA}/d/1")).await;
    assert_eq!(everyday.status(), 200);
    let stale = verify_nginx(&app, &laptop, "GET", &fresh).await;
    assert_eq!(stale.status(), 401);
    assert_eq!(location(&stale), step_up_location(&app, &fresh, "recent"));
}
