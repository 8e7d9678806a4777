//! The security review's findings, each replayed as an attacker would send
//! it over HTTP: the answer a person or a browser sees must not help them.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

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

/// Every API route that takes a JSON body (or could be sent one): method,
/// path, a well-formed body to mutate, and whether it reads the body.
fn json_routes(device: &str) -> Vec<(&'static str, String, Value, bool)> {
    let code = json!({"code": "123456", "next_code": "654321"});
    let credential = json!({"id": "AAAA", "rawId": "AAAA", "type": "public-key",
        "response": {"clientDataJSON": "AAAA", "authenticatorData": "AAAA",
                     "signature": "AAAA", "userHandle": null, "attestationObject": "AAAA"},
        "extensions": {}});
    let route =
        |method, path: &str, body: &Value, reads| (method, path.to_owned(), body.clone(), reads);
    vec![
        route(
            "POST",
            "/api/v1/login",
            &json!({"username": "bob", "password": PASSWORD}),
            true,
        ),
        route(
            "POST",
            "/api/v1/login/totp",
            &json!({"code": "123456"}),
            true,
        ),
        route(
            "POST",
            "/api/v1/login/recovery-code",
            &json!({"recovery_code": "abcd-efgh-jkmn"}),
            true,
        ),
        route(
            "POST",
            "/api/v1/login/security-key/begin",
            &json!({}),
            false,
        ),
        route(
            "POST",
            "/api/v1/login/security-key/finish",
            &credential,
            true,
        ),
        route(
            "POST",
            "/api/v1/me/totp",
            &json!({"name": "hw", "secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"}),
            true,
        ),
        route("POST", "/api/v1/me/totp/nope/confirm", &code, true),
        route(
            "POST",
            "/api/v1/me/security-keys/begin",
            &json!({"name": "key"}),
            true,
        ),
        route("POST", "/api/v1/me/security-keys/finish", &credential, true),
        route(
            "PATCH",
            &format!("/api/v1/me/devices/{device}"),
            &json!({"name": "phone 2"}),
            true,
        ),
        route(
            "POST",
            &format!("/api/v1/me/devices/{device}/resync"),
            &code,
            true,
        ),
        route("POST", "/api/v1/me/recovery-codes", &json!({}), false),
        route(
            "POST",
            "/api/v1/me/password",
            &json!({"current_password": PASSWORD, "new_password": "a quiet harbour at dawn"}),
            true,
        ),
        route(
            "POST",
            "/api/v1/me/reauthenticate",
            &json!({"code": "123456"}),
            true,
        ),
        route(
            "POST",
            "/api/v1/me/reauthenticate/security-key/begin",
            &json!({}),
            false,
        ),
        route(
            "POST",
            "/api/v1/me/reauthenticate/security-key/finish",
            &credential,
            true,
        ),
        route(
            "POST",
            "/api/v1/admin/users",
            &json!({"username": "carol", "password": PASSWORD, "admin": false}),
            true,
        ),
        route("POST", "/api/v1/logout", &json!({}), false),
    ]
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
    let routes = json_routes(&device);
    for c in [&admin, &pending, &client()] {
        for (method, path, _, _) in &routes {
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
async fn longest_allowed_passwords_are_judged_with_a_clear_answer() {
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
        let answer = app
            .post(
                &admin,
                "/api/v1/admin/users",
                json!({"username": format!("carol{n}"), "password": password}),
            )
            .await;
        let status = answer.status();
        // Speed is the benchmarks' business (and the estimator's bound on
        // what it reads, tested beside it); here: an answer, never a 5xx.
        assert!(status == 201 || status == 400, "{password:.20}…: {status}");
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

/// How a fuzzer bends a well-formed body: a field's value replaced by any
/// type or size, a field dropped or added, the text cut short or a byte
/// flipped, or bytes that were never JSON.
#[derive(Debug, Clone)]
enum Mutation {
    Replace(usize, Value),
    Drop(usize),
    Add(String, Value),
    Truncate(usize),
    Flip(usize, u8),
    Bytes(Vec<u8>),
}

fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[A-Z2-7=]{0,300}".prop_map(Value::String),
        (
            0usize..3,
            proptest::sample::select(vec![63usize, 64, 65, 129, 5000])
        )
            .prop_map(|(c, n)| Value::String(["x", "é", "\u{1F512}"][c].repeat(n))),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec(("[a-z_]{1,12}", inner), 0..4)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<usize>(), any_value()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        1 => any::<usize>().prop_map(Mutation::Drop),
        1 => ("[a-zA-Z_]{1,16}", any_value()).prop_map(|(k, v)| Mutation::Add(k, v)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        1 => proptest::collection::vec(any::<u8>(), 0..256).prop_map(Mutation::Bytes),
    ]
}

fn mutate(body: &Value, mutation: &Mutation) -> Vec<u8> {
    let mut object = body.as_object().cloned().unwrap_or_default();
    let key = |i: usize| object.keys().nth(i % object.len().max(1)).cloned();
    match mutation {
        Mutation::Replace(i, value) => {
            if let Some(k) = key(*i) {
                object.insert(k, value.clone());
            }
        }
        Mutation::Drop(i) => {
            if let Some(k) = key(*i) {
                object.remove(&k);
            }
        }
        Mutation::Add(k, value) => {
            object.insert(k.clone(), value.clone());
        }
        Mutation::Truncate(at) => {
            let text = serde_json::to_vec(body).unwrap();
            return text[..at % text.len()].to_vec();
        }
        Mutation::Flip(at, byte) => {
            let mut text = serde_json::to_vec(body).unwrap();
            let at = at % text.len();
            text[at] ^= byte | 1;
            return text;
        }
        Mutation::Bytes(bytes) => return bytes.clone(),
    }
    serde_json::to_vec(&Value::Object(object)).unwrap()
}

/// A fuzz target over HTTP for every JSON body the API takes: generated
/// mutations of a well-formed body go through deserialisation and the
/// domain's validation; no answer is a 5xx, every refusal is a JSON error,
/// and text that is not JSON is 400 `invalid_request` wherever a body is read.
#[tokio::test]
async fn fuzzed_bodies_on_every_api_route_get_a_clear_answer() {
    let app = spawn_app().await;
    let (admin, _, device) = app.signed_in_admin_with_totp("root").await;
    app.create_user("bob", false).await;
    let mut runner = TestRunner::new(Config::default());
    let strategy = mutation();
    for (method, path, body, reads_body) in json_routes(&device) {
        for _ in 0..40 {
            let mutation = strategy.new_tree(&mut runner).unwrap().current();
            let bytes = mutate(&body, &mutation);
            let answer = admin
                .request(method.parse().unwrap(), app.url(&path))
                .header("content-type", "application/json")
                .body(bytes.clone())
                .send()
                .await
                .unwrap();
            let status = answer.status().as_u16();
            let text = answer.text().await.unwrap();
            let seen = format!("{method} {path} {mutation:?}: {status} {text}");
            assert!(status < 500, "{seen}");
            if status >= 400 {
                let error: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{seen}"));
                assert!(
                    error["error"].as_str().is_some_and(|e| !e.is_empty()),
                    "{seen}"
                );
            }
            let blank = bytes.iter().all(u8::is_ascii_whitespace);
            // serde skips ignored fields' strings without checking their
            // UTF-8, so only valid text is sure to be refused by the parser.
            let text_not_json = std::str::from_utf8(&bytes)
                .is_ok_and(|text| serde_json::from_str::<Value>(text).is_err());
            if reads_body && !blank && text_not_json {
                assert_eq!(status, 400, "{seen}");
                assert_eq!(
                    serde_json::from_str::<Value>(&text).unwrap()["error"],
                    "invalid_request"
                );
            }
        }
    }
}
