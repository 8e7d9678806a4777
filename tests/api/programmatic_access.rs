//! Programmatic access over real HTTP: a script's whole story (an access
//! key, a token made with a code, verify through a real nginx with
//! `Authorization: Bearer`, a policy that needs MFA), rotation, roles,
//! disabled users, every bad input, and the two-key limit under parallel
//! creation. Runs on the store the suite is given (`TEST_STORE`).

use base64::Engine;
use serde_json::{Value, json};

use crate::access_decisions::Admin;
use crate::helpers::{TestApp, assert_error, client, spawn_app, spawn_app_with};
use crate::nginx::{proxied_app, start_nginx};

/// `Authorization: Basic` for a key.
fn basic(id: &str, secret: &str) -> String {
    let pair = format!("{id}:{secret}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A new access key of the signed-in `c`: (id, secret).
async fn create_key(app: &TestApp, c: &reqwest::Client) -> (String, String) {
    let answer = app.post(c, "/api/v1/me/access-keys", json!({})).await;
    assert_eq!(answer.status(), 201, "{}", answer.text().await.unwrap());
    let key: Value = answer.json().await.unwrap();
    (
        key["access_key_id"].as_str().unwrap().to_owned(),
        key["secret_access_key"].as_str().unwrap().to_owned(),
    )
}

/// `POST /api/v1/sts/session-token` with a key and `body`.
async fn session_token_call(
    app: &TestApp,
    id: &str,
    secret: &str,
    body: Value,
) -> reqwest::Response {
    client()
        .post(app.url("/api/v1/sts/session-token"))
        .header("Authorization", basic(id, secret))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// A token made from a key (with `code` when given): (token, mfa).
async fn session_token(
    app: &TestApp,
    id: &str,
    secret: &str,
    code: Option<String>,
) -> (String, bool) {
    let body = match code {
        Some(code) => json!({"code": code}),
        None => json!({}),
    };
    let answer = session_token_call(app, id, secret, body).await;
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
    let token: Value = answer.json().await.unwrap();
    assert!(token["expires_at"].as_str().unwrap().ends_with('Z'));
    (
        token["token"].as_str().unwrap().to_owned(),
        token["mfa"].as_bool().unwrap(),
    )
}

/// A page through nginx, with a token.
async fn get_with(url: String, token: String) -> reqwest::Response {
    client()
        .get(url)
        .header("Authorization", bearer(&token))
        .send()
        .await
        .unwrap()
}

/// `/api/v1/verify` as nginx calls it, with `authorization`.
async fn verify_with(app: &TestApp, authorization: &str, url: &str) -> reqwest::Response {
    client()
        .get(app.url("/api/v1/verify"))
        .header("Authorization", authorization)
        .header("X-Original-Method", "GET")
        .header("X-Original-URL", url)
        .send()
        .await
        .unwrap()
}

/// A request to the API with `authorization` instead of a session.
async fn api_with(
    app: &TestApp,
    authorization: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = client()
        .request(method, app.url(path))
        .header("Authorization", authorization);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn audit_of(app: &TestApp, admin: &Admin, username: &str, event: &str) -> Vec<Value> {
    let events: Value = app
        .get(
            &admin.client,
            &format!("/api/v1/admin/audit?username={username}&limit=1000"),
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
async fn a_script_gets_a_token_with_a_code_and_passes_nginx_only_where_mfa_is_not_required() {
    let app = proxied_app().await;
    let admin = Admin::new(&app).await;
    let (alice, secret, _) = app.signed_in_user_with_totp("alice").await;
    let nginx = start_nginx(&app).await;
    let site = format!("http://localhost:{}", nginx.port);

    // The key: the contract's shapes, the secret shown once.
    let (id, key_secret) = create_key(&app, &alice).await;
    assert!(id.starts_with("TFAK") && id.len() == 20, "{id}");
    assert!(
        id[4..]
            .chars()
            .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c))
    );
    assert!(key_secret.len() >= 27, "at least 160 bits: {key_secret}");
    let listed: Value = app
        .get(&alice, "/api/v1/me/access-keys")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["access_keys"][0]["access_key_id"], id.as_str());
    assert_eq!(listed["access_keys"][0]["status"], "active");
    assert!(listed["access_keys"][0]["last_used_at"].is_null());
    assert!(
        !listed.to_string().contains(&key_secret),
        "never listed again"
    );

    // Its secret is kept only as a keyed hash: nowhere in the store as given.
    if app.settings.storage.backend == twofold::config::StorageBackend::Sqlite {
        let bytes = std::fs::read(app.database_file()).unwrap();
        let wal = std::fs::read(app.database_file().with_extension("db-wal")).unwrap_or_default();
        for file in [bytes, wal] {
            assert!(
                !file
                    .windows(key_secret.len())
                    .any(|w| w == key_secret.as_bytes())
            );
        }
    }

    // A policy: /mfa/* needs a token made with a code.
    let needs_mfa = json!({"Version": "2026-12-01", "Statement": [
        {"Sid": "MfaOnly", "Effect": "Deny", "Action": "http:*", "Resource": format!("{site}/mfa/*"),
         "Condition": {"Bool": {"twofold:MultiFactorAuthPresent": "false"}}}]});
    admin
        .put(&app, "/policies/needs-mfa", Some(&needs_mfa))
        .await;
    admin
        .put(&app, "/users/alice/policies/needs-mfa", None)
        .await;

    let (plain, mfa) = session_token(&app, &id, &key_secret, None).await;
    assert!(!mfa);
    app.next_time_step();
    let (with_code, mfa) =
        session_token(&app, &id, &key_secret, Some(app.totp_code(&secret))).await;
    assert!(mfa);

    let through = |token: String, path: &'static str| get_with(format!("{site}{path}"), token);
    let answer = through(with_code.clone(), "/mfa/report").await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "hello alice");
    let answer = through(plain.clone(), "/mfa/report").await;
    assert_eq!(answer.status(), 302, "refused, to the no-access page");
    assert!(
        answer.headers()["location"]
            .to_str()
            .unwrap()
            .contains("/no-access")
    );
    let answer = through(plain.clone(), "/open/page").await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "hello alice");
    // Without a credential nginx sends the visitor to sign in.
    let anonymous = client()
        .get(format!("{site}/open/page"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 302);

    // The token works on the API a session may call, and says who.
    let me: Value = api_with(&app, &bearer(&plain), "GET", "/api/v1/me", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "alice");

    // The same code again is refused (replay), as at sign-in.
    let replayed = session_token_call(
        &app,
        &id,
        &key_secret,
        json!({"code": app.totp_code(&secret)}),
    )
    .await;
    assert_error(replayed, 401, "invalid_code").await;
    // A wrong code is refused too.
    app.next_time_step();
    let wrong = if app.totp_code(&secret) == "000000" {
        "111111"
    } else {
        "000000"
    };
    let answer = session_token_call(&app, &id, &key_secret, json!({"code": wrong})).await;
    assert_error(answer, 401, "invalid_code").await;

    // The key's use is seen, and the audit trail has the story.
    let listed: Value = app
        .get(&alice, "/api/v1/me/access-keys")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        listed["access_keys"][0]["last_used_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(
        audit_of(&app, &admin, "alice", "access_key_created")
            .await
            .len(),
        1
    );
    let issued = audit_of(&app, &admin, "alice", "session_token_issued").await;
    assert_eq!(issued.len(), 2);
    assert!(
        issued
            .iter()
            .any(|e| e["detail"].as_str().unwrap().contains("mfa=true"))
    );
    let failed = audit_of(&app, &admin, "alice", "login_second_factor_failed").await;
    assert!(!failed.is_empty());
}

#[tokio::test]
async fn rotating_keys_ends_the_old_keys_tokens_and_a_third_key_is_refused() {
    let app = spawn_app().await;
    let (alice, _, _) = app.signed_in_user_with_totp("alice").await;
    let (first, first_secret) = create_key(&app, &alice).await;
    let (old_token, _) = session_token(&app, &first, &first_secret, None).await;
    let (second, second_secret) = create_key(&app, &alice).await;
    assert_ne!(first, second);
    let third = app.post(&alice, "/api/v1/me/access-keys", json!({})).await;
    assert_error(third, 409, "too_many_access_keys").await;

    let url = "https://app.example.com/";
    assert_eq!(
        verify_with(&app, &bearer(&old_token), url).await.status(),
        200
    );
    let deleted = app
        .delete(&alice, &format!("/api/v1/me/access-keys/{first}"))
        .await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        verify_with(&app, &bearer(&old_token), url).await.status(),
        401
    );
    let answer = session_token_call(&app, &first, &first_secret, json!({})).await;
    assert_error(answer, 401, "invalid_credentials").await;
    let again = app
        .delete(&alice, &format!("/api/v1/me/access-keys/{first}"))
        .await;
    assert_error(again, 404, "not_found").await;

    // The new key goes on working; deactivating it voids its tokens for good.
    let (new_token, _) = session_token(&app, &second, &second_secret, None).await;
    assert_eq!(
        verify_with(&app, &bearer(&new_token), url).await.status(),
        200
    );
    let path = format!("/api/v1/me/access-keys/{second}");
    let off = app
        .call(&alice, "PATCH", &path, Some(&json!({"status": "inactive"})))
        .await;
    assert_eq!(off.status(), 200);
    assert_eq!(off.json::<Value>().await.unwrap()["status"], "inactive");
    assert_eq!(
        verify_with(&app, &bearer(&new_token), url).await.status(),
        401
    );
    let answer = session_token_call(&app, &second, &second_secret, json!({})).await;
    assert_error(answer, 401, "invalid_credentials").await;
    let on = app
        .call(&alice, "PATCH", &path, Some(&json!({"status": "active"})))
        .await;
    assert_eq!(on.status(), 200);
    assert_eq!(
        verify_with(&app, &bearer(&new_token), url).await.status(),
        401,
        "stays void"
    );
    let (fresh, _) = session_token(&app, &second, &second_secret, None).await;
    assert_eq!(verify_with(&app, &bearer(&fresh), url).await.status(), 200);
    let bad = app
        .call(&alice, "PATCH", &path, Some(&json!({"status": "paused"})))
        .await;
    assert_error(bad, 400, "invalid_request").await;
}

#[tokio::test]
async fn an_access_key_is_taken_by_verify_alone_as_the_access_key_credential_type() {
    let app = spawn_app_with(|s| {
        s.access.default_decision = twofold::config::DefaultDecision::Deny;
    })
    .await;
    let admin = Admin::new(&app).await;
    let (alice, _, _) = app.signed_in_user_with_totp("alice").await;
    let (id, secret) = create_key(&app, &alice).await;
    let keys_only = json!({"Version": "2026-12-01", "Statement": [
        {"Effect": "Allow", "Action": "http:GET", "Resource": "https://ci.example.com/*",
         "Condition": {"StringEquals": {"twofold:CredentialType": "access_key"}}}]});
    admin.put(&app, "/policies/ci", Some(&keys_only)).await;
    admin.put(&app, "/users/alice/policies/ci", None).await;

    let answer = verify_with(&app, &basic(&id, &secret), "https://ci.example.com/build").await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["remote-user"], "alice");
    let (token, _) = session_token(&app, &id, &secret, None).await;
    let answer = verify_with(&app, &bearer(&token), "https://ci.example.com/build").await;
    assert_eq!(
        answer.status(),
        403,
        "a temporary credential is not an access key"
    );
    // Elsewhere the key is refused: it is exchanged for a token first.
    let answer = api_with(&app, &basic(&id, &secret), "GET", "/api/v1/me", None).await;
    assert_error(answer, 401, "unauthenticated").await;
    let answer = verify_with(&app, &basic(&id, "wrong"), "https://ci.example.com/build").await;
    assert_eq!(answer.status(), 401);
}

#[tokio::test]
async fn a_disabled_users_keys_and_tokens_are_refused_at_once_and_a_reset_leaves_keys_alone() {
    let app = spawn_app().await;
    let admin = Admin::new(&app).await;
    let (alice, _, _) = app.signed_in_user_with_totp("alice").await;
    let (id, secret) = create_key(&app, &alice).await;
    let (token, _) = session_token(&app, &id, &secret, None).await;
    let url = "https://app.example.com/";

    // A lost-device reset: the key and its token go on working.
    let reset = app
        .delete(&admin.client, "/api/v1/admin/users/alice/devices")
        .await;
    assert_eq!(reset.status(), 204);
    assert_eq!(verify_with(&app, &bearer(&token), url).await.status(), 200);
    assert_eq!(
        verify_with(&app, &basic(&id, &secret), url).await.status(),
        200
    );

    let disabled = app
        .post(
            &admin.client,
            "/api/v1/admin/users/alice/disable",
            json!({}),
        )
        .await;
    assert_eq!(disabled.status(), 204);
    assert_eq!(verify_with(&app, &bearer(&token), url).await.status(), 401);
    assert_eq!(
        verify_with(&app, &basic(&id, &secret), url).await.status(),
        401
    );
    let answer = api_with(&app, &bearer(&token), "GET", "/api/v1/me", None).await;
    assert_error(answer, 401, "unauthenticated").await;
    let answer = session_token_call(&app, &id, &secret, json!({})).await;
    assert_error(answer, 401, "invalid_credentials").await;

    let enabled = app
        .post(&admin.client, "/api/v1/admin/users/alice/enable", json!({}))
        .await;
    assert_eq!(enabled.status(), 204);
    assert_eq!(
        verify_with(&app, &bearer(&token), url).await.status(),
        401,
        "ended for good"
    );
    let (fresh, _) = session_token(&app, &id, &secret, None).await;
    assert_eq!(verify_with(&app, &bearer(&fresh), url).await.status(), 200);
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_each() {
    let app = spawn_app().await;
    let (alice, _, _) = app.signed_in_user_with_totp("alice").await;
    let (id, secret) = create_key(&app, &alice).await;
    let (token, _) = session_token(&app, &id, &secret, None).await;
    let url = "https://app.example.com/";

    // Malformed Authorization headers: 401 at verify and on the API.
    for header in [
        "Bearer",
        "Bearer a b",
        "Basic !!!not-base64!!!",
        "Basic Zm9v",
        "Digest abc",
        "Token x",
    ] {
        assert_eq!(
            verify_with(&app, header, url).await.status(),
            401,
            "{header}"
        );
        let answer = api_with(&app, header, "GET", "/api/v1/me", None).await;
        assert_error(answer, 401, "unauthenticated").await;
    }
    let long = format!("Bearer {}", "x".repeat(5000));
    assert_eq!(verify_with(&app, &long, url).await.status(), 401);
    // session-token needs Basic.
    let none = client()
        .post(app.url("/api/v1/sts/session-token"))
        .send()
        .await
        .unwrap();
    assert_error(none, 401, "unauthenticated").await;
    let answer = api_with(
        &app,
        &bearer(&token),
        "POST",
        "/api/v1/sts/session-token",
        None,
    )
    .await;
    assert_error(answer, 401, "unauthenticated").await;
    // Unknown and wrong keys.
    let unknown = session_token_call(&app, "TFAKAAAAAAAAAAAAAAAA", &secret, json!({})).await;
    assert_error(unknown, 401, "invalid_credentials").await;
    let malformed_id = session_token_call(&app, "nope", &secret, json!({})).await;
    assert_error(malformed_id, 401, "invalid_credentials").await;
    let wrong = session_token_call(&app, &id, "wrong-secret", json!({})).await;
    assert_error(wrong, 401, "invalid_credentials").await;
    // Durations out of bounds, and of the wrong type.
    for duration in [
        json!(899),
        json!(43201),
        json!(-1),
        json!("3600"),
        json!(1.5),
    ] {
        let answer =
            session_token_call(&app, &id, &secret, json!({"duration_secs": duration})).await;
        assert_error(answer, 400, "invalid_request").await;
    }
    for duration in [900, 43200] {
        let answer =
            session_token_call(&app, &id, &secret, json!({"duration_secs": duration})).await;
        assert_eq!(answer.status(), 200, "{duration}");
    }
    // An unknown token, and an expired one.
    let unknown = api_with(&app, &bearer("not-a-token"), "GET", "/api/v1/me", None).await;
    assert_error(unknown, 401, "unauthenticated").await;
    let short = session_token_call(&app, &id, &secret, json!({"duration_secs": 900})).await;
    let short = short.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(verify_with(&app, &bearer(&short), url).await.status(), 200);
    app.clock.advance(901);
    assert_eq!(verify_with(&app, &bearer(&short), url).await.status(), 401);

    // A Bearer token can't change credentials: 403 on each such endpoint.
    let (fresh, _) = session_token(&app, &id, &secret, None).await;
    for (method, path, body) in [
        (
            "POST",
            "/api/v1/me/password".to_owned(),
            json!({"current_password": "x", "new_password": "y"}),
        ),
        ("GET", "/api/v1/me/access-keys".to_owned(), json!({})),
        ("POST", "/api/v1/me/access-keys".to_owned(), json!({})),
        (
            "PATCH",
            format!("/api/v1/me/access-keys/{id}"),
            json!({"status": "inactive"}),
        ),
        ("DELETE", format!("/api/v1/me/access-keys/{id}"), json!({})),
        ("POST", "/api/v1/me/totp".to_owned(), json!({"name": "x"})),
        ("DELETE", "/api/v1/me/devices/abc".to_owned(), json!({})),
        (
            "PATCH",
            "/api/v1/me/devices/abc".to_owned(),
            json!({"name": "x"}),
        ),
        (
            "POST",
            "/api/v1/me/security-keys/begin".to_owned(),
            json!({"name": "x"}),
        ),
        (
            "POST",
            "/api/v1/me/passkeys/begin".to_owned(),
            json!({"name": "x"}),
        ),
        ("POST", "/api/v1/me/recovery-codes".to_owned(), json!({})),
    ] {
        let answer = api_with(&app, &bearer(&fresh), method, &path, Some(body)).await;
        assert_error(answer, 403, "forbidden").await;
    }
    // …and nothing changed: the key is still active, the password the same.
    let listed: Value = app
        .get(&alice, "/api/v1/me/access-keys")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["access_keys"][0]["status"], "active");
    assert_eq!(
        app.login(&client(), "alice", crate::helpers::PASSWORD)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn every_wrong_secret_counts_per_key_and_the_key_is_locked_after_five() {
    let app = spawn_app().await;
    let (alice, _, _) = app.signed_in_user_with_totp("alice").await;
    let (id, secret) = create_key(&app, &alice).await;
    for attempt in 0..5 {
        let answer = session_token_call(&app, &id, &format!("wrong{attempt}"), json!({})).await;
        assert_error(answer, 401, "invalid_credentials").await;
    }
    // Locked: even the right secret waits, here and at verify.
    let answer = session_token_call(&app, &id, &secret, json!({})).await;
    assert!(answer.headers().contains_key("retry-after"));
    assert_error(answer, 429, "too_many_attempts").await;
    let url = "https://app.example.com/";
    assert_eq!(
        verify_with(&app, &basic(&id, &secret), url).await.status(),
        401
    );
    // Unknown ids count too (per id).
    for _ in 0..5 {
        let answer = session_token_call(&app, "TFAKBBBBBBBBBBBBBBBB", "x", json!({})).await;
        assert_error(answer, 401, "invalid_credentials").await;
    }
    let answer = session_token_call(&app, "TFAKBBBBBBBBBBBBBBBB", "x", json!({})).await;
    assert_error(answer, 429, "too_many_attempts").await;
    // After the lockout the right secret works.
    app.clock.advance(61);
    let (_, mfa) = session_token(&app, &id, &secret, None).await;
    assert!(!mfa);
}

#[tokio::test]
async fn at_most_two_keys_are_made_however_many_ask_at_once() {
    let app = spawn_app().await;
    let (alice, _, _) = app.signed_in_user_with_totp("alice").await;
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (c, url) = (alice.clone(), app.url("/api/v1/me/access-keys"));
        attempts.spawn(async move {
            c.post(url)
                .json(&json!({}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    let statuses: Vec<u16> = attempts.join_all().await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        8,
        "{statuses:?}"
    );
    let listed: Value = app
        .get(&alice, "/api/v1/me/access-keys")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["access_keys"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn making_a_key_needs_a_recent_second_factor() {
    let app = spawn_app().await;
    let (alice, _, _) = app.signed_in_user_with_totp("alice").await;
    app.clock.advance(11 * 60);
    let answer = app.post(&alice, "/api/v1/me/access-keys", json!({})).await;
    assert_error(answer, 403, "reauthentication_required").await;
}

#[tokio::test]
async fn assuming_a_role_swaps_the_users_permissions_for_the_roles() {
    let app = proxied_app().await;
    let admin = Admin::new(&app).await;
    let (alice, secret, _) = app.signed_in_user_with_totp("alice").await;
    let (bob, _, _) = app.signed_in_user_with_totp("bob").await;
    let nginx = start_nginx(&app).await;
    let site = format!("http://localhost:{}", nginx.port);

    // Alice may not read /reports; the role "auditor" may, and nothing else.
    let no_reports = json!({"Version": "2026-12-01", "Statement": [
        {"Effect": "Deny", "Action": "http:*", "Resource": format!("{site}/reports/*")},
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "twofold:role/auditor"}]});
    let reports = json!({"Version": "2026-12-01", "Statement": [
        {"Effect": "Allow", "Action": "http:GET", "Resource": format!("{site}/reports/*")},
        {"Effect": "Deny", "Action": "http:*", "NotResource": format!("{site}/reports/*")}]});
    admin
        .put(&app, "/policies/alice-own", Some(&no_reports))
        .await;
    admin
        .put(&app, "/users/alice/policies/alice-own", None)
        .await;
    admin
        .put(
            &app,
            "/policies/bob-may-assume",
            Some(&json!({"Version": "2026-12-01", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]})),
        )
        .await;
    admin
        .put(&app, "/users/bob/policies/bob-may-assume", None)
        .await;
    admin.put(&app, "/policies/reports", Some(&reports)).await;
    admin.put(&app, "/groups/auditors", None).await;
    admin
        .put(&app, "/groups/auditors/members/alice", None)
        .await;
    let role = json!({"trusted_groups": ["auditors"], "trusted_users": [], "policies": ["reports"],
                      "max_duration_secs": 7200});
    let put = app
        .call(
            &admin.client,
            "PUT",
            "/api/v1/admin/roles/auditor",
            Some(&role),
        )
        .await;
    assert_eq!(put.status(), 201);
    let put = app
        .call(
            &admin.client,
            "PUT",
            "/api/v1/admin/roles/auditor",
            Some(&role),
        )
        .await;
    assert_eq!(put.status(), 200);
    let roles: Value = app
        .get(&admin.client, "/api/v1/admin/roles")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(roles["roles"][0]["name"], "auditor");
    assert_eq!(roles["roles"][0]["trusted_groups"], json!(["auditors"]));
    assert_eq!(roles["roles"][0]["policies"], json!(["reports"]));
    assert_eq!(roles["roles"][0]["max_duration_secs"], 7200);

    let get = |token: String, path: &'static str| get_with(format!("{site}{path}"), token);
    let (id, key_secret) = create_key(&app, &alice).await;
    app.next_time_step();
    let (own, _) = session_token(&app, &id, &key_secret, Some(app.totp_code(&secret))).await;
    assert_eq!(
        get(own.clone(), "/reports/q1").await.status(),
        302,
        "alice herself may not"
    );
    assert_eq!(get(own.clone(), "/wiki").await.status(), 200);

    // Assumed with her token: the role's permissions alone.
    let assumed = api_with(
        &app,
        &bearer(&own),
        "POST",
        "/api/v1/sts/assume-role",
        Some(json!({"role": "auditor", "duration_secs": 1800})),
    )
    .await;
    assert_eq!(assumed.status(), 200);
    let assumed: Value = assumed.json().await.unwrap();
    assert_eq!(assumed["role"], "auditor");
    let role_token = assumed["token"].as_str().unwrap().to_owned();
    let answer = get(role_token.clone(), "/reports/q1").await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "hello alice");
    assert_eq!(
        get(role_token.clone(), "/wiki").await.status(),
        302,
        "the role may not"
    );
    // verify names the user and the role.
    let answer = verify_with(&app, &bearer(&role_token), &format!("{site}/reports/q1")).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["remote-user"], "alice");
    assert_eq!(answer.headers()["remote-role"], "auditor");
    assert_eq!(answer.headers()["remote-admin"], "false");
    let answer = verify_with(&app, &bearer(&own), &format!("{site}/wiki")).await;
    assert!(answer.headers().get("remote-role").is_none());

    // Assumed with a session too; beyond the role's maximum is 400.
    let with_session = app
        .post(
            &alice,
            "/api/v1/sts/assume-role",
            json!({"role": "auditor"}),
        )
        .await;
    assert_eq!(with_session.status(), 200);
    let too_long = app
        .post(
            &alice,
            "/api/v1/sts/assume-role",
            json!({"role": "auditor", "duration_secs": 7201}),
        )
        .await;
    assert_error(too_long, 400, "invalid_request").await;
    // Bob is allowed sts:AssumeRole but not trusted; nobody assumes a role that isn't.
    let answer = app
        .post(&bob, "/api/v1/sts/assume-role", json!({"role": "auditor"}))
        .await;
    assert_error(answer, 403, "forbidden").await;
    let answer = app
        .post(&alice, "/api/v1/sts/assume-role", json!({"role": "nope"}))
        .await;
    assert_error(answer, 403, "forbidden").await;
    let answer = app.post(&alice, "/api/v1/sts/assume-role", json!({})).await;
    assert_error(answer, 400, "invalid_request").await;

    // The trail names both, and deleting the role ends its tokens.
    let assumed = audit_of(&app, &admin, "alice", "role_assumed").await;
    assert_eq!(assumed.len(), 2);
    assert!(
        assumed[0]["detail"]
            .as_str()
            .unwrap()
            .contains("role=auditor user=alice")
    );
    let deleted = app
        .delete(&admin.client, "/api/v1/admin/roles/auditor")
        .await;
    assert_eq!(deleted.status(), 204);
    let answer = verify_with(&app, &bearer(&role_token), &format!("{site}/reports/q1")).await;
    assert_eq!(answer.status(), 401);
    let events: Value = app
        .get(&admin.client, "/api/v1/admin/audit?limit=1000")
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"role_put") && names.contains(&"role_deleted"),
        "{names:?}"
    );
}

#[tokio::test]
async fn roles_are_checked_when_put() {
    let app = spawn_app().await;
    let admin = Admin::new(&app).await;
    let put = |name: &'static str, body: Value| {
        let c = admin.client.clone();
        let app = &app;
        async move {
            app.call(
                &c,
                "PUT",
                &format!("/api/v1/admin/roles/{name}"),
                Some(&body),
            )
            .await
        }
    };
    assert_error(
        put("r", json!({"policies": ["missing"]})).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        put("r", json!({"trusted_groups": ["missing"]})).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        put("r", json!({"trusted_users": ["missing"]})).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        put("r", json!({"max_duration_secs": 60})).await,
        400,
        "invalid_request",
    )
    .await;
    assert_error(
        put("r", json!({"max_duration_secs": 50000})).await,
        400,
        "invalid_request",
    )
    .await;
    assert_error(put("bad name", json!({})).await, 400, "invalid_request").await;
    assert_error(
        put("r", json!({"policies": "x"})).await,
        400,
        "invalid_request",
    )
    .await;
    let roles: Value = app
        .get(&admin.client, "/api/v1/admin/roles")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(roles["roles"], json!([]), "nothing was written");
    assert_eq!(put("r", json!({})).await.status(), 201);
    let deleted = app
        .delete(&admin.client, "/api/v1/admin/roles/missing")
        .await;
    assert_error(deleted, 404, "not_found").await;
}

#[tokio::test]
async fn administrators_manage_anyones_keys_and_others_need_manage_access_keys() {
    let app = spawn_app().await;
    let admin = Admin::new(&app).await;
    let (alice, _, _) = app.signed_in_user_with_totp("alice").await;
    let (bob, _, _) = app.signed_in_user_with_totp("bob").await;
    let made = app
        .post(
            &admin.client,
            "/api/v1/admin/users/alice/access-keys",
            json!({}),
        )
        .await;
    assert_eq!(made.status(), 201);
    let made: Value = made.json().await.unwrap();
    let id = made["access_key_id"].as_str().unwrap().to_owned();
    let secret = made["secret_access_key"].as_str().unwrap().to_owned();
    let listed: Value = app
        .get(&alice, "/api/v1/me/access-keys")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["access_keys"][0]["access_key_id"], id.as_str());
    let (token, _) = session_token(&app, &id, &secret, None).await;

    let path = format!("/api/v1/admin/users/alice/access-keys/{id}");
    let off = app
        .call(
            &admin.client,
            "PATCH",
            &path,
            Some(&json!({"status": "inactive"})),
        )
        .await;
    assert_eq!(off.status(), 200);
    assert_eq!(
        verify_with(&app, &bearer(&token), "https://a.example.com/")
            .await
            .status(),
        401
    );
    let deactivated = audit_of(&app, &admin, "alice", "access_key_deactivated").await;
    assert!(
        deactivated[0]["detail"]
            .as_str()
            .unwrap()
            .contains("by=root")
    );

    // Bob, not an admin: 403, until a policy allows ManageAccessKeys on alice.
    let answer = app.get(&bob, "/api/v1/admin/users/alice/access-keys").await;
    assert_error(answer, 403, "forbidden").await;
    admin.put(&app, "/policies/keys", Some(&json!({"Version": "2026-12-01", "Statement": [
        {"Effect": "Allow", "Action": "twofold:ManageAccessKeys", "Resource": "twofold:user/alice"}]}))).await;
    admin.put(&app, "/users/bob/policies/keys", None).await;
    let answer = app.get(&bob, "/api/v1/admin/users/alice/access-keys").await;
    assert_eq!(answer.status(), 200);
    let answer = app.get(&bob, "/api/v1/admin/users/root/access-keys").await;
    assert_error(answer, 403, "forbidden").await;
    let deleted = app.delete(&admin.client, &path).await;
    assert_eq!(deleted.status(), 204);
    let missing = app
        .get(&admin.client, "/api/v1/admin/users/nobody/access-keys")
        .await;
    assert_error(missing, 404, "not_found").await;
}

#[tokio::test]
async fn the_credential_report_shows_both_keys_oldest_first() {
    let app = spawn_app().await;
    let (alice, _, _) = app.signed_in_user_with_totp("alice").await;
    let (first, secret) = create_key(&app, &alice).await;
    app.clock.advance(5);
    let (second, _) = create_key(&app, &alice).await;
    session_token(&app, &first, &secret, None).await;
    let path = format!("/api/v1/me/access-keys/{second}");
    app.call(&alice, "PATCH", &path, Some(&json!({"status": "inactive"})))
        .await;
    let report = app.auth().await.credential_report().await.unwrap();
    let mut lines = report.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines
        .find(|l| l.starts_with("alice,"))
        .unwrap()
        .split(',')
        .collect();
    let cell = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(cell("access_key_1_active"), "true");
    assert!(cell("access_key_1_last_rotated").ends_with('Z'));
    assert!(cell("access_key_1_last_used").ends_with('Z'));
    assert_eq!(cell("access_key_2_active"), "false");
    assert_ne!(
        cell("access_key_1_last_rotated"),
        cell("access_key_2_last_rotated")
    );
    assert_eq!(cell("access_key_2_last_used"), "N/A");
    assert_eq!(header.last(), Some(&"passkeys"));
}

#[tokio::test]
async fn a_browsers_session_passes_verify_beside_the_apps_own_authorization_header() {
    let app = spawn_app().await;
    let (alice, _, _) = app.signed_in_user_with_totp("alice").await;
    for header in [
        "Bearer the-apps-own-api-token",
        "Basic YWxpY2U6aHVudGVyMg==",
    ] {
        let answer = alice
            .get(app.url("/api/v1/verify"))
            .header("Authorization", header)
            .header("X-Original-Method", "GET")
            .header("X-Original-URL", "https://grafana.example.com/api/x")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{header}");
        assert_eq!(answer.headers()["remote-user"], "alice");
    }
}
