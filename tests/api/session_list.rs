//! Sessions people see and end, over real HTTP: two clients of one user, one
//! ends the other; "sign out everywhere else"; an admin ends a user's
//! sessions; the per-user cap; and remembered browsers.

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use twofold::auth::admin::Actor;

use crate::helpers::{PASSWORD, TestApp, assert_error, client, set_cookie, spawn_app_with};
use crate::soft_key::{Key, password_then_key_challenge, signed_in_user_with_key};

async fn json_of(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 200, "{}", response.url());
    response.json().await.unwrap()
}

async fn sessions_of(app: &TestApp, c: &reqwest::Client) -> Vec<Value> {
    let body = json_of(app.get(c, "/api/v1/me/sessions").await).await;
    body["sessions"].as_array().unwrap().clone()
}

async fn audit_of(app: &TestApp, username: &str) -> Vec<(String, String)> {
    app.auth()
        .await
        .audit_events(&Actor::host_operator(), Some(username), 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.event, e.detail))
        .collect()
}

/// The value of cookie `name` a response sets.
fn cookie_value(response: &reqwest::Response, name: &str) -> String {
    let cookie = set_cookie(response, name).expect("the cookie is set");
    let value = cookie[name.len() + 1..].split(';').next().unwrap();
    assert!(!value.is_empty(), "{cookie}");
    value.to_owned()
}

fn the_other(sessions: &[Value]) -> &Value {
    let others: Vec<&Value> = sessions.iter().filter(|s| s["current"] == false).collect();
    assert_eq!(others.len(), 1, "{sessions:?}");
    others[0]
}

async fn status_of_me(app: &TestApp, c: &reqwest::Client) -> u16 {
    app.get(c, "/api/v1/me").await.status().as_u16()
}

#[tokio::test]
async fn one_client_ends_the_other_whose_next_request_is_refused_at_once() {
    let app = spawn_app_with(|_| {}).await;
    let (first, secret, _) = app.signed_in_user_with_totp("alice").await;
    let second = client();
    let signed_in = sign_in_remembering(&app, &second, "alice", &secret, false).await;
    let token = cookie_value(&signed_in, "twofold_session");

    let sessions = sessions_of(&app, &first).await;
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    for session in &sessions {
        for field in [
            "id",
            "created_at",
            "last_seen_at",
            "expires_at",
            "ip",
            "method",
        ] {
            assert!(session[field].is_string(), "{field} in {session}");
        }
        assert_eq!(session["ip"], "127.0.0.1");
        assert_eq!(session["method"], "totp");
        assert!(session.get("user_agent").is_some());
    }
    // The handle is neither the token nor its hash, nor a piece of either.
    let other = the_other(&sessions);
    let id = other["id"].as_str().unwrap();
    assert!(id.len() >= 16);
    let hash = Sha256::digest(token.as_bytes());
    for secret_form in [
        token.clone(),
        hash.iter().map(|b| format!("{b:02x}")).collect(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash),
        base64::engine::general_purpose::STANDARD.encode(hash),
    ] {
        assert!(!secret_form.contains(id), "{id} in {secret_form}");
    }

    assert_eq!(status_of_me(&app, &second).await, 200);
    let ended = app
        .delete(&first, &format!("/api/v1/me/sessions/{id}"))
        .await;
    assert_eq!(ended.status(), 204);
    assert_error(app.get(&second, "/api/v1/me").await, 401, "unauthenticated").await;
    // Forward-auth refuses it at once too.
    assert_eq!(app.get(&second, "/api/v1/verify").await.status(), 401);
    assert_eq!(status_of_me(&app, &first).await, 200);
    assert_eq!(sessions_of(&app, &first).await.len(), 1);

    // Ending it twice, or an id that never was, is 404.
    assert_error(
        app.delete(&first, &format!("/api/v1/me/sessions/{id}"))
            .await,
        404,
        "not_found",
    )
    .await;
    let trail = audit_of(&app, "alice").await;
    assert!(
        trail
            .iter()
            .any(|(event, detail)| event == "session_revoked"
                && detail.contains("by=alice")
                && detail.contains(id)),
        "{trail:?}"
    );
}

#[tokio::test]
async fn nobody_ends_a_session_that_is_not_theirs() {
    let app = spawn_app_with(|_| {}).await;
    let (alice, _, _) = app.signed_in_user_with_totp("alice").await;
    let (bob, _, _) = app.signed_in_user_with_totp("bob").await;
    let bobs = sessions_of(&app, &bob).await;
    let id = bobs[0]["id"].as_str().unwrap();
    assert_error(
        app.delete(&alice, &format!("/api/v1/me/sessions/{id}"))
            .await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(status_of_me(&app, &bob).await, 200);
    // Alice's list never shows Bob's session.
    let alices = sessions_of(&app, &alice).await;
    assert!(alices.iter().all(|s| s["id"] != bobs[0]["id"]));
    // Without a session there is nothing to list or end.
    assert_error(
        app.get(&client(), "/api/v1/me/sessions").await,
        401,
        "unauthenticated",
    )
    .await;
    assert_error(
        app.delete(&client(), "/api/v1/me/sessions").await,
        401,
        "unauthenticated",
    )
    .await;
}

#[tokio::test]
async fn sign_out_everywhere_else_keeps_only_the_current_session() {
    let app = spawn_app_with(|_| {}).await;
    let (first, secret, _) = app.signed_in_user_with_totp("alice").await;
    let second = app.sign_in_with_totp("alice", &secret).await;
    let third = app.sign_in_with_totp("alice", &secret).await;
    assert_eq!(sessions_of(&app, &second).await.len(), 3);

    assert_eq!(
        app.delete(&second, "/api/v1/me/sessions").await.status(),
        204
    );
    assert_eq!(status_of_me(&app, &second).await, 200);
    for ended in [&first, &third] {
        assert_error(app.get(ended, "/api/v1/me").await, 401, "unauthenticated").await;
        assert_eq!(app.get(ended, "/api/v1/verify").await.status(), 401);
    }
    let left = sessions_of(&app, &second).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["current"], true);
}

#[tokio::test]
async fn an_admin_lists_and_ends_a_users_sessions() {
    let app = spawn_app_with(|_| {}).await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    let (alice, secret, _) = app.signed_in_user_with_totp("alice").await;
    let alice_again = app.sign_in_with_totp("alice", &secret).await;

    let listed = json_of(app.get(&root, "/api/v1/admin/users/alice/sessions").await).await;
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert!(sessions.iter().all(|s| s["current"] == false));

    // Not for anyone else, and not for a user who does not exist.
    assert_error(
        app.get(&alice, "/api/v1/admin/users/alice/sessions").await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        app.delete(&alice, "/api/v1/admin/users/root/sessions")
            .await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        app.get(&root, "/api/v1/admin/users/nobody/sessions").await,
        404,
        "not_found",
    )
    .await;

    // One session by id, then all.
    let id = sessions[0]["id"].as_str().unwrap();
    let one = app
        .delete(&root, &format!("/api/v1/admin/users/alice/sessions/{id}"))
        .await;
    assert_eq!(one.status(), 204);
    let statuses = [
        status_of_me(&app, &alice).await,
        status_of_me(&app, &alice_again).await,
    ];
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        1,
        "{statuses:?}"
    );

    let all = app
        .delete(&root, "/api/v1/admin/users/alice/sessions")
        .await;
    assert_eq!(all.status(), 204);
    for c in [&alice, &alice_again] {
        assert_error(app.get(c, "/api/v1/me").await, 401, "unauthenticated").await;
        assert_eq!(app.get(c, "/api/v1/verify").await.status(), 401);
    }
    assert_eq!(status_of_me(&app, &root).await, 200);
    let listed = json_of(app.get(&root, "/api/v1/admin/users/alice/sessions").await).await;
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 0);
    let trail = audit_of(&app, "alice").await;
    assert!(
        trail
            .iter()
            .filter(|(event, detail)| event == "session_revoked" && detail.contains("by=root"))
            .count()
            >= 2,
        "{trail:?}"
    );
}

#[tokio::test]
async fn a_user_holds_at_most_fifty_sessions_and_the_oldest_ends_first() {
    let app = spawn_app_with(|_| {}).await;
    let (oldest, secret, _) = app.signed_in_user_with_totp("alice").await;
    let mut clients = Vec::new();
    for _ in 0..50 {
        clients.push(app.sign_in_with_totp("alice", &secret).await);
    }
    let newest = clients.last().unwrap();
    assert_eq!(sessions_of(&app, newest).await.len(), 50);
    assert_error(app.get(&oldest, "/api/v1/me").await, 401, "unauthenticated").await;
    assert_eq!(status_of_me(&app, &clients[0]).await, 200);
}

/// Settings with remembered browsers on for 30 days.
async fn app_remembering() -> TestApp {
    spawn_app_with(|s| s.session.remember_browser_days = 30).await
}

/// Password, then the current code with `remember_browser` as given.
async fn sign_in_remembering(
    app: &TestApp,
    c: &reqwest::Client,
    username: &str,
    secret: &str,
    remember: bool,
) -> reqwest::Response {
    let answer = json_of(app.login(c, username, PASSWORD).await).await;
    assert_eq!(answer["status"], "second_factor_required", "{answer}");
    app.next_time_step();
    let code = app.totp_code(secret);
    let answer = app
        .post(
            c,
            "/api/v1/login/totp",
            json!({"code": code, "remember_browser": remember}),
        )
        .await;
    assert_eq!(answer.status(), 200);
    answer
}

async fn sign_out(app: &TestApp, c: &reqwest::Client) {
    assert_eq!(app.post(c, "/api/v1/logout", json!({})).await.status(), 204);
}

#[tokio::test]
async fn a_remembered_browser_signs_in_with_the_password_alone_and_others_still_give_a_code() {
    let app = app_remembering().await;
    let (_, secret, _) = app.signed_in_user_with_totp("alice").await;
    let laptop = client();
    let answer = sign_in_remembering(&app, &laptop, "alice", &secret, true).await;
    let cookie = set_cookie(&answer, "twofold_remembered_browser").expect("a remembering cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("Max-Age=2592000"), "{cookie}");
    sign_out(&app, &laptop).await;

    // The same browser: the password alone signs in.
    app.clock.advance(3600);
    let answer = json_of(app.login(&laptop, "alice", PASSWORD).await).await;
    assert_eq!(answer["status"], "authenticated");
    assert_eq!(status_of_me(&app, &laptop).await, 200);
    assert_eq!(app.get(&laptop, "/api/v1/verify").await.status(), 200);
    let listed = json_of(app.get(&laptop, "/api/v1/me/sessions").await).await;
    let current = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()
        .clone();
    assert_eq!(current["method"], "totp");
    let browsers = listed["remembered_browsers"].as_array().unwrap();
    assert_eq!(browsers.len(), 1);
    assert_eq!(browsers[0]["current"], true);
    assert!(browsers[0]["last_used_at"].is_string());

    // The factor is an hour old: a sensitive change still asks for one.
    assert_error(
        app.post(&laptop, "/api/v1/me/recovery-codes", json!({}))
            .await,
        403,
        "reauthentication_required",
    )
    .await;

    // Another browser still gives a code, and is offered to be remembered.
    let phone = client();
    let answer = json_of(app.login(&phone, "alice", PASSWORD).await).await;
    assert_eq!(answer["status"], "second_factor_required");
    let page = second_factor_page(&app, &phone).await;
    assert!(
        page.contains("t ask for a second factor on this browser for 30 days"),
        "{page}"
    );

    let trail = audit_of(&app, "alice").await;
    assert!(
        trail.iter().any(|(e, _)| e == "browser_remembered"),
        "{trail:?}"
    );
    // Newest first: the password, then the remembered factor, as one sign-in.
    let signed_in = trail
        .iter()
        .position(|(e, d)| e == "login_second_factor_ok" && d.contains("remembered_browser="))
        .expect("the remembered sign-in is audited");
    assert_eq!(trail[signed_in + 1].0, "login_password_ok", "{trail:?}");
}

#[tokio::test]
async fn a_password_change_ends_the_remembering() {
    let app = app_remembering().await;
    let (_, secret, _) = app.signed_in_user_with_totp("alice").await;
    let laptop = client();
    sign_in_remembering(&app, &laptop, "alice", &secret, true).await;
    let changed = app
        .post(
            &laptop,
            "/api/v1/me/password",
            json!({"current_password": PASSWORD, "new_password": "another long passphrase of mine"}),
        )
        .await;
    assert_eq!(changed.status(), 204);
    sign_out(&app, &laptop).await;
    let answer = json_of(
        app.login(&laptop, "alice", "another long passphrase of mine")
            .await,
    )
    .await;
    assert_eq!(answer["status"], "second_factor_required");
}

#[tokio::test]
async fn remembering_is_off_by_default() {
    let app = spawn_app_with(|_| {}).await;
    let (_, secret, _) = app.signed_in_user_with_totp("alice").await;
    let laptop = client();
    let answer = sign_in_remembering(&app, &laptop, "alice", &secret, true).await;
    assert!(set_cookie(&answer, "twofold_remembered_browser").is_none());
    sign_out(&app, &laptop).await;
    let answer = json_of(app.login(&laptop, "alice", PASSWORD).await).await;
    assert_eq!(answer["status"], "second_factor_required");
    // Nor does the second-factor page offer it.
    let page = second_factor_page(&app, &laptop).await;
    assert!(page.contains("Code from your authenticator app"), "{page}");
    assert!(!page.contains("second factor on this browser"), "{page}");
}

/// The second-factor page a pending login sees.
async fn second_factor_page(app: &TestApp, c: &reqwest::Client) -> String {
    let page = app.get(c, "/login/second-factor").await;
    assert_eq!(page.status(), 200);
    page.text().await.unwrap()
}

#[tokio::test]
async fn a_remembered_browser_is_bound_to_its_user_and_can_be_forgotten() {
    let app = app_remembering().await;
    let (_, alice_secret, _) = app.signed_in_user_with_totp("alice").await;
    app.signed_in_user_with_totp("bob").await;
    let shared = client();
    sign_in_remembering(&app, &shared, "alice", &alice_secret, true).await;
    sign_out(&app, &shared).await;
    // Bob's password on Alice's remembered browser: Bob still gives a code.
    let answer = json_of(app.login(&shared, "bob", PASSWORD).await).await;
    assert_eq!(answer["status"], "second_factor_required");

    // Alice forgets the browser from another session: it asks again.
    let elsewhere = app.sign_in_with_totp("alice", &alice_secret).await;
    let listed = json_of(app.get(&elsewhere, "/api/v1/me/sessions").await).await;
    let browser = listed["remembered_browsers"][0].clone();
    assert_eq!(browser["current"], false);
    let id = browser["id"].as_str().unwrap();
    assert_error(
        app.delete(&elsewhere, "/api/v1/me/remembered-browsers/not-a-browser")
            .await,
        404,
        "not_found",
    )
    .await;
    let forgotten = app
        .delete(&elsewhere, &format!("/api/v1/me/remembered-browsers/{id}"))
        .await;
    assert_eq!(forgotten.status(), 204);
    let answer = json_of(app.login(&shared, "alice", PASSWORD).await).await;
    assert_eq!(answer["status"], "second_factor_required");
    let trail = audit_of(&app, "alice").await;
    assert!(
        trail
            .iter()
            .any(|(e, d)| e == "remembered_browser_revoked" && d.contains(id)),
        "{trail:?}"
    );
}

#[tokio::test]
async fn signing_out_everywhere_else_or_a_lost_device_reset_forgets_remembered_browsers() {
    let app = app_remembering().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    let (_, secret, _) = app.signed_in_user_with_totp("alice").await;
    let laptop = client();
    sign_in_remembering(&app, &laptop, "alice", &secret, true).await;
    let phone = client();
    sign_in_remembering(&app, &phone, "alice", &secret, true).await;

    // From the phone: everywhere else ends, the laptop must give a code again,
    // the phone stays remembered.
    assert_eq!(
        app.delete(&phone, "/api/v1/me/sessions").await.status(),
        204
    );
    let answer = json_of(app.login(&laptop, "alice", PASSWORD).await).await;
    assert_eq!(answer["status"], "second_factor_required");
    sign_out(&app, &phone).await;
    let answer = json_of(app.login(&phone, "alice", PASSWORD).await).await;
    assert_eq!(answer["status"], "authenticated");

    // The lost-device reset forgets the phone too.
    let reset = app.delete(&root, "/api/v1/admin/users/alice/devices").await;
    assert_eq!(reset.status(), 204);
    assert_error(app.get(&phone, "/api/v1/me").await, 401, "unauthenticated").await;
    let answer = json_of(app.login(&phone, "alice", PASSWORD).await).await;
    assert_eq!(answer["status"], "enrolment_required");
    let listed = json_of(app.get(&root, "/api/v1/admin/users/alice/sessions").await).await;
    assert_eq!(listed["remembered_browsers"], json!([]), "{listed}");
}

#[tokio::test]
async fn disabling_a_user_forgets_their_remembered_browsers() {
    let app = app_remembering().await;
    let (root, _, _) = app.signed_in_admin_with_totp("root").await;
    let (_, secret, _) = app.signed_in_user_with_totp("alice").await;
    let laptop = client();
    sign_in_remembering(&app, &laptop, "alice", &secret, true).await;
    let listed = json_of(app.get(&root, "/api/v1/admin/users/alice/sessions").await).await;
    assert_eq!(listed["remembered_browsers"].as_array().unwrap().len(), 1);

    for change in ["disable", "enable"] {
        let answer = app
            .post(
                &root,
                &format!("/api/v1/admin/users/alice/{change}"),
                json!({}),
            )
            .await;
        assert_eq!(answer.status(), 204, "{change}");
    }
    assert_error(app.get(&laptop, "/api/v1/me").await, 401, "unauthenticated").await;
    let listed = json_of(app.get(&root, "/api/v1/admin/users/alice/sessions").await).await;
    assert_eq!(listed["remembered_browsers"], json!([]), "{listed}");
    // Enabled again, the browser gives a code like any other.
    let answer = json_of(app.login(&laptop, "alice", PASSWORD).await).await;
    assert_eq!(answer["status"], "second_factor_required");
}

#[tokio::test]
async fn a_security_key_sign_in_can_remember_the_browser() {
    let app = app_remembering().await;
    let mut key = Key::new();
    signed_in_user_with_key(&app, "alice", &mut key).await;
    let (c, options) = password_then_key_challenge(&app, "alice").await;
    let mut assertion = key.get(&app.address, options);
    assertion["remember_browser"] = json!(true);
    let answer = app
        .post(&c, "/api/v1/login/security-key/finish", assertion)
        .await;
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
    sign_out(&app, &c).await;
    let answer = json_of(app.login(&c, "alice", PASSWORD).await).await;
    assert_eq!(answer["status"], "authenticated");
    let listed = json_of(app.get(&c, "/api/v1/me/sessions").await).await;
    assert_eq!(listed["remembered_browsers"][0]["method"], "security_key");
}
