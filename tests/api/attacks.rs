//! The security review's findings, each replayed as an attacker would send
//! it over HTTP: the answer a person or a browser sees must not help them.

use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, assert_error, client, spawn_app};

/// Where a browser goes for a `Location`: resolved against our origin the way
/// the WHATWG URL parser does it (tabs and newlines dropped first).
fn destination(app: &TestApp, response: &reqwest::Response) -> url::Url {
    let location = response.headers()["location"].to_str().unwrap();
    url::Url::parse(&app.settings.server.origin)
        .unwrap()
        .join(location)
        .unwrap()
}

#[tokio::test]
async fn a_return_address_hiding_a_tab_does_not_send_a_signed_in_user_elsewhere() {
    let app = spawn_app().await;
    let (c, _, _) = app.signed_in_user_with_totp("alice").await;
    for rd in [
        "/%09/evil.example/",
        "/%0a/evil.example/",
        "/%0d/evil.example/",
    ] {
        let answer = app.get(&c, &format!("/login?rd={rd}")).await;
        assert!(answer.status().as_u16() < 500, "{rd}: {}", answer.status());
        if answer.status() == 303 {
            let to = destination(&app, &answer);
            assert_ne!(to.host_str(), Some("evil.example"), "{rd} led to {to}");
        }
    }
}

#[tokio::test]
async fn a_return_address_with_a_line_break_is_no_server_error() {
    let app = spawn_app().await;
    let (c, _, _) = app.signed_in_user_with_totp("alice").await;
    let answer = app
        .get(&c, "/login?rd=/account%0d%0aSet-Cookie:%20x=y")
        .await;
    assert!(answer.status().as_u16() < 500, "{}", answer.status());
    assert!(answer.headers().get("x").is_none());
}

#[tokio::test]
async fn a_return_address_keeps_its_semicolons_and_escapes_through_the_sign_in() {
    let app = spawn_app().await;
    let (_, secret, _) = app.signed_in_user_with_totp("alice").await;
    let origin = &app.settings.server.origin;
    let target = format!("{origin}/x;Domain=evil.example?q=a%26b");
    let c = client();
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("rd", &target)
        .finish();
    let page = app.get(&c, &format!("/login?{query}")).await;
    assert_eq!(page.status(), 200);
    for set_cookie in page.headers().get_all("set-cookie") {
        let set_cookie = set_cookie.to_str().unwrap();
        // `;` would end the value and start an attribute of the attacker's.
        assert!(!set_cookie.contains(";Domain=evil"), "{set_cookie}");
    }
    assert_eq!(app.login(&c, "alice", PASSWORD).await.status(), 200);
    app.next_time_step();
    let code = app.totp_code(&secret);
    let signed_in = app
        .post(&c, "/api/v1/login/totp", json!({"code": code}))
        .await;
    assert_eq!(signed_in.status(), 200);
    let done = app.get(&c, "/login/done").await;
    assert_eq!(done.status(), 303);
    assert_eq!(done.headers()["location"], target.as_str());
}

#[tokio::test]
async fn a_first_login_left_open_enrols_nothing_once_the_user_has_a_factor() {
    let app = spawn_app().await;
    app.create_user("alice", false).await;
    // Someone who learnt alice's password signs in first and waits.
    let attacker = client();
    let answer: serde_json::Value = app
        .login(&attacker, "alice", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"], "enrolment_required");
    // Alice signs in herself and protects her account with an app.
    app.first_sign_in_enrolling_totp("alice").await;
    // The password alone no longer enrols a factor of the attacker's.
    let start = app
        .post(&attacker, "/api/v1/me/totp", json!({"name": "mine"}))
        .await;
    assert_error(start, 401, "unauthenticated").await;
    let key = app
        .post(
            &attacker,
            "/api/v1/me/security-keys/begin",
            json!({"name": "mine"}),
        )
        .await;
    assert_error(key, 401, "unauthenticated").await;
}

/// Bodies an attacker sends instead of the expected JSON.
fn hostile_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let long = "é".repeat(200_000);
    vec![
        ("text/plain", br#"{"username":"a","password":"b"}"#.to_vec()),
        ("application/json", b"[]".to_vec()),
        ("application/json", b"null".to_vec()),
        ("application/json", b"{\"code\": 7}".to_vec()),
        (
            "application/json",
            b"{\"id\": {}, \"response\": 1}".to_vec(),
        ),
        ("application/json", b"\xff\xfe".to_vec()),
        (
            "application/json",
            format!("{{\"name\": \"{long}\"}}").into_bytes(),
        ),
        (
            "application/json",
            json!({"username": "x".repeat(5000), "password": "p".repeat(5000),
                   "code": "1".repeat(5000), "name": "\u{202e}\u{0}",
                   "current_password": "p".repeat(5000), "new_password": "q".repeat(5000)})
            .to_string()
            .into_bytes(),
        ),
    ]
}

#[tokio::test]
async fn no_hostile_body_on_any_api_route_is_answered_with_a_server_error() {
    let app = spawn_app().await;
    let (admin, _, device) = app.signed_in_admin_with_totp("root").await;
    let pending = client();
    app.create_user("bob", false).await;
    app.login(&pending, "bob", PASSWORD).await;
    let routes = [
        ("POST", "/api/v1/login".to_owned()),
        ("POST", "/api/v1/login/totp".to_owned()),
        ("POST", "/api/v1/login/recovery-code".to_owned()),
        ("POST", "/api/v1/login/security-key/begin".to_owned()),
        ("POST", "/api/v1/login/security-key/finish".to_owned()),
        ("POST", "/api/v1/me/totp".to_owned()),
        ("POST", "/api/v1/me/totp/nope/confirm".to_owned()),
        ("POST", "/api/v1/me/security-keys/begin".to_owned()),
        ("POST", "/api/v1/me/security-keys/finish".to_owned()),
        ("PATCH", format!("/api/v1/me/devices/{device}")),
        ("POST", format!("/api/v1/me/devices/{device}/resync")),
        ("POST", "/api/v1/me/recovery-codes".to_owned()),
        ("POST", "/api/v1/me/password".to_owned()),
        ("POST", "/api/v1/me/reauthenticate".to_owned()),
        (
            "POST",
            "/api/v1/me/reauthenticate/security-key/begin".to_owned(),
        ),
        (
            "POST",
            "/api/v1/me/reauthenticate/security-key/finish".to_owned(),
        ),
        ("POST", "/api/v1/admin/users".to_owned()),
        ("POST", "/api/v1/logout".to_owned()),
    ];
    for c in [&admin, &pending, &client()] {
        for (method, path) in &routes {
            for (content_type, body) in hostile_bodies() {
                let answer = c
                    .request(method.parse().unwrap(), app.url(path))
                    .header("content-type", content_type)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = answer.status();
                let text = answer.text().await.unwrap();
                assert!(
                    status.as_u16() < 500,
                    "{method} {path} ({content_type}): {status} {text}"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_longest_allowed_password_is_judged_quickly() {
    let app = spawn_app().await;
    let (admin, _, _) = app.signed_in_admin_with_totp("root").await;
    let candidates = [
        "a".repeat(128),
        "ab1!".repeat(32),
        "qwertyuiopasdfghjklzxcvbnm1234567890".repeat(4)[..128].to_owned(),
        (0..128)
            .map(|i| char::from(b'!' + (i * 7 % 90) as u8))
            .collect(),
        "19801980password".repeat(8),
        "é".repeat(128),
    ];
    for (n, password) in candidates.into_iter().enumerate() {
        let started = std::time::Instant::now();
        let answer = app
            .post(
                &admin,
                "/api/v1/admin/users",
                json!({"username": format!("carol{n}"), "password": password}),
            )
            .await;
        let status = answer.status();
        let took = started.elapsed();
        eprintln!("{password:.20}…: {status} in {took:?}");
        assert!(status.as_u16() < 500);
        assert!(
            took < std::time::Duration::from_secs(2),
            "{password}: {took:?}"
        );
    }
}

#[tokio::test]
async fn a_hardware_seed_or_name_out_of_bounds_is_a_clear_refusal() {
    let app = spawn_app().await;
    let (c, _, _) = app.signed_in_user_with_totp("alice").await;
    let base32 = |bytes: usize| data_encoding::BASE32_NOPAD.encode(&vec![0x5a; bytes]);
    for (name, secret) in [
        ("hw".to_owned(), "A".repeat(4000)),
        ("hw".to_owned(), "A".repeat(200_000)),
        ("hw".to_owned(), base32(65)),
        ("hw".to_owned(), base32(15)),
        ("x".repeat(65), base32(20)),
        ("".to_owned(), base32(20)),
    ] {
        let answer = app
            .post(
                &c,
                "/api/v1/me/totp",
                json!({"name": name, "secret": secret}),
            )
            .await;
        assert_error(answer, 400, "invalid_request").await;
    }
    // The longest seed and name allowed are enrolled, their QR code readable.
    let secret = base32(64);
    let answer = app
        .post(
            &c,
            "/api/v1/me/totp",
            json!({"name": "é".repeat(64), "secret": secret}),
        )
        .await;
    assert_eq!(answer.status(), 201);
    let enrolment: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(enrolment["secret"], secret.as_str());
    let png = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        enrolment["qr_png"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(
        crate::enrolment::decode_qr(&png),
        enrolment["otpauth_uri"].as_str().unwrap()
    );
}
