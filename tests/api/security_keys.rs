//! Security keys over real HTTP, with a software FIDO2 key
//! (webauthn-authenticator-rs's SoftToken) doing real WebAuthn ceremonies
//! against the JSON the server sends: enrolment, sign-in, every refusal, and
//! a restart of the real binary.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, assert_error, client, set_cookie, spawn_app};
use crate::soft_key::{
    Key, begin_registration, finish_sign_in, flip_a_character, json_of,
    password_then_key_challenge, register, sign_in_with_key, signed_in_user_with_key,
};

/// A refused answer: 401 `invalid_assertion`, and the client is not signed in.
async fn assert_refused(app: &TestApp, c: &reqwest::Client, answer: reqwest::Response) {
    assert_error(answer, 401, "invalid_assertion").await;
    assert_error(app.get(c, "/api/v1/me").await, 401, "unauthenticated").await;
}

/// The audit trail of a user, oldest first, as `event detail` lines.
pub async fn audit_of(app: &TestApp, username: &str) -> Vec<String> {
    let store = app.store().await;
    let mut events = store.events(Some(username), u32::MAX).await.unwrap();
    events.reverse();
    events
        .into_iter()
        .map(|e| format!("{} {}", e.event, e.detail))
        .collect()
}

#[tokio::test]
async fn a_first_login_user_enrols_a_key_and_is_signed_in() {
    let app = spawn_app().await;
    app.create_user("alice", false).await;
    let c = client();
    app.login(&c, "alice", PASSWORD).await;

    let options = begin_registration(&app, &c, "Blue YubiKey").await;
    let public_key = &options["publicKey"];
    assert_eq!(public_key["rp"]["id"], "localhost");
    assert_eq!(public_key["user"]["name"], "alice");
    assert_eq!(public_key["excludeCredentials"], json!([]));
    let mut key = Key::new();
    let credential = key.create(&app.address, options).unwrap();
    let answer = app
        .post(&c, "/api/v1/me/security-keys/finish", credential)
        .await;
    assert_eq!(answer.status(), 201);
    let body = json_of(answer).await;
    assert_eq!(body["name"], "Blue YubiKey");
    assert_eq!(body["status"], "confirmed");
    let id = body["id"].as_str().unwrap();

    let me = json_of(app.get(&c, "/api/v1/me").await).await;
    assert_eq!(me["username"], "alice");
    assert_eq!(me["devices"].as_array().unwrap().len(), 1);
    assert_eq!(me["devices"][0]["id"], id);
    assert_eq!(me["devices"][0]["kind"], "security_key");
    assert_eq!(me["devices"][0]["name"], "Blue YubiKey");
    assert_eq!(me["devices"][0]["last_used_at"], Value::Null);

    let audit = audit_of(&app, "alice").await;
    assert!(
        audit.contains(&"device_enrolled kind=security_key device=Blue YubiKey".to_owned()),
        "{audit:?}"
    );
    assert!(
        audit
            .contains(&"login_second_factor_ok method=security_key device=Blue YubiKey".to_owned()),
        "{audit:?}"
    );
}

#[tokio::test]
async fn the_next_login_offers_the_key_and_the_key_signs_in() {
    let app = spawn_app().await;
    let mut key = Key::new();
    signed_in_user_with_key(&app, "bob", &mut key).await;

    let c = client();
    let answer = json_of(app.login(&c, "bob", PASSWORD).await).await;
    assert_eq!(
        answer,
        json!({"status": "second_factor_required", "methods": ["security_key"]})
    );
    let options = json_of(
        app.post(&c, "/api/v1/login/security-key/begin", json!({}))
            .await,
    )
    .await;
    let public_key = &options["publicKey"];
    assert_eq!(public_key["rpId"], "localhost");
    let allowed = public_key["allowCredentials"].as_array().unwrap();
    assert_eq!(allowed.len(), 1);
    assert_eq!(allowed[0]["type"], "public-key");
    assert_eq!(allowed[0]["id"], key.credential_id());
    let answer = finish_sign_in(&app, &c, key.get(&app.address, options)).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(json_of(answer).await, json!({"status": "authenticated"}));

    let me = json_of(app.get(&c, "/api/v1/me").await).await;
    assert_eq!(me["username"], "bob");
    assert!(
        me["devices"][0]["last_used_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    let audit = audit_of(&app, "bob").await;
    assert_eq!(
        audit.last().unwrap(),
        "login_second_factor_ok method=security_key device=YubiKey"
    );
}

#[tokio::test]
async fn a_user_with_two_keys_signs_in_with_either() {
    let app = spawn_app().await;
    let (mut first, mut second) = (Key::new(), Key::new());
    let c = signed_in_user_with_key(&app, "carol", &mut first).await;

    let options = begin_registration(&app, &c, "Backup key").await;
    assert_eq!(
        options["publicKey"]["excludeCredentials"],
        json!([{"type": "public-key", "id": first.credential_id()}])
    );
    let credential = second.create(&app.address, options).unwrap();
    let answer = app
        .post(&c, "/api/v1/me/security-keys/finish", credential)
        .await;
    assert_eq!(answer.status(), 201);
    assert_eq!(json_of(answer).await["name"], "Backup key");

    let (_, options) = password_then_key_challenge(&app, "carol").await;
    let allowed: Vec<&str> = options["publicKey"]["allowCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(allowed, [first.credential_id(), second.credential_id()]);

    sign_in_with_key(&app, "carol", &mut first).await;
    let signed_in = sign_in_with_key(&app, "carol", &mut second).await;
    let me = json_of(app.get(&signed_in, "/api/v1/me").await).await;
    let names: Vec<&str> = me["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["YubiKey", "Backup key"]);
}

#[tokio::test]
async fn a_key_cannot_be_registered_twice() {
    let app = spawn_app().await;
    let mut key = Key::new();
    let c = signed_in_user_with_key(&app, "dave", &mut key).await;

    let options = begin_registration(&app, &c, "Same key again").await;
    assert_eq!(
        options["publicKey"]["excludeCredentials"][0]["id"],
        key.credential_id()
    );
    assert!(
        key.create(&app.address, options).is_err(),
        "the key refuses: excludeCredentials names it"
    );
    let me = json_of(app.get(&c, "/api/v1/me").await).await;
    assert_eq!(me["devices"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_signed_in_user_with_an_app_adds_a_key_and_both_are_offered() {
    let app = spawn_app().await;
    let (c, _, _) = app.signed_in_user_with_totp("erin").await;
    let mut key = Key::new();
    let answer = register(&app, &c, &mut key, "Keychain key").await;
    assert_eq!(answer.status(), 201);
    assert!(
        answer.cookies().next().is_none(),
        "a signed-in user keeps their session"
    );

    let fresh = client();
    let answer = json_of(app.login(&fresh, "erin", PASSWORD).await).await;
    assert_eq!(answer["methods"], json!(["totp", "security_key"]));
    sign_in_with_key(&app, "erin", &mut key).await;
}

#[tokio::test]
async fn key_names_have_one_to_sixty_four_characters() {
    let app = spawn_app().await;
    let (c, _, _) = app.signed_in_user_with_totp("frank").await;
    for body in [
        json!({"name": ""}),
        json!({"name": "   "}),
        json!({"name": "k".repeat(65)}),
        json!({}),
        json!({"name": 7}),
    ] {
        assert_error(
            app.post(&c, "/api/v1/me/security-keys/begin", body).await,
            400,
            "invalid_request",
        )
        .await;
    }
    let answer = app
        .post(
            &c,
            "/api/v1/me/security-keys/begin",
            json!({"name": "é".repeat(64)}),
        )
        .await;
    assert_eq!(answer.status(), 200);
}

#[tokio::test]
async fn registration_needs_a_session_or_a_first_login() {
    let app = spawn_app().await;
    let anonymous = client();
    assert_error(
        app.post(
            &anonymous,
            "/api/v1/me/security-keys/begin",
            json!({"name": "k"}),
        )
        .await,
        401,
        "unauthenticated",
    )
    .await;

    // A user who already has a factor and only passed the password may not
    // add another one.
    let mut key = Key::new();
    signed_in_user_with_key(&app, "grace", &mut key).await;
    let pending = client();
    app.login(&pending, "grace", PASSWORD).await;
    assert_error(
        app.post(
            &pending,
            "/api/v1/me/security-keys/begin",
            json!({"name": "k"}),
        )
        .await,
        401,
        "unauthenticated",
    )
    .await;
}

#[tokio::test]
async fn a_registration_challenge_expires_after_five_minutes_and_works_once() {
    let app = spawn_app().await;
    let (c, _, _) = app.signed_in_user_with_totp("heidi").await;
    let mut key = Key::new();

    let options = begin_registration(&app, &c, "Late key").await;
    let credential = key.create(&app.address, options).unwrap();
    app.clock.advance(5 * 60 + 1);
    assert_error(
        app.post(&c, "/api/v1/me/security-keys/finish", credential)
            .await,
        400,
        "invalid_attestation",
    )
    .await;

    let options = begin_registration(&app, &c, "Prompt key").await;
    let credential = key.create(&app.address, options).unwrap();
    let answer = app
        .post(&c, "/api/v1/me/security-keys/finish", credential.clone())
        .await;
    assert_eq!(answer.status(), 201);
    assert_error(
        app.post(&c, "/api/v1/me/security-keys/finish", credential)
            .await,
        400,
        "invalid_attestation",
    )
    .await;
    let me = json_of(app.get(&c, "/api/v1/me").await).await;
    assert_eq!(me["devices"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_registration_from_another_origin_or_with_a_bad_body_is_refused() {
    let app = spawn_app().await;
    let (c, _, _) = app.signed_in_user_with_totp("ivan").await;
    let mut key = Key::new();

    let options = begin_registration(&app, &c, "Phished key").await;
    let elsewhere = format!("http://localhost:{}", app.port.wrapping_add(1));
    let credential = key.create(&elsewhere, options).unwrap();
    assert_error(
        app.post(&c, "/api/v1/me/security-keys/finish", credential)
            .await,
        400,
        "invalid_attestation",
    )
    .await;

    for body in [json!({}), json!({"id": "x", "rawId": "not base64!"})] {
        assert_error(
            app.post(&c, "/api/v1/me/security-keys/finish", body).await,
            400,
            "invalid_request",
        )
        .await;
    }
    let me = json_of(app.get(&c, "/api/v1/me").await).await;
    assert_eq!(me["devices"].as_array().unwrap().len(), 1, "only the app");
}

#[tokio::test]
async fn a_bad_signature_is_refused_and_audited() {
    let app = spawn_app().await;
    let mut key = Key::new();
    signed_in_user_with_key(&app, "judy", &mut key).await;

    let (c, options) = password_then_key_challenge(&app, "judy").await;
    let mut assertion = key.get(&app.address, options);
    let signature = assertion["response"]["signature"].as_str().unwrap();
    assertion["response"]["signature"] = json!(flip_a_character(signature, 20));
    assert_refused(&app, &c, finish_sign_in(&app, &c, assertion).await).await;

    let audit = audit_of(&app, "judy").await;
    let last = audit.last().unwrap();
    assert!(
        last.starts_with("login_second_factor_failed method=security_key"),
        "{last}"
    );
}

#[tokio::test]
async fn an_answer_made_for_another_origin_is_refused() {
    let app = spawn_app().await;
    let mut key = Key::new();
    signed_in_user_with_key(&app, "ken", &mut key).await;

    let (c, options) = password_then_key_challenge(&app, "ken").await;
    let phishing_site = format!("http://localhost:{}", app.port.wrapping_add(1));
    let assertion = key.get(&phishing_site, options);
    assert_refused(&app, &c, finish_sign_in(&app, &c, assertion).await).await;
}

#[tokio::test]
async fn an_answer_to_a_challenge_the_server_did_not_issue_is_refused() {
    let app = spawn_app().await;
    let mut key = Key::new();
    signed_in_user_with_key(&app, "leo", &mut key).await;

    let (c, mut options) = password_then_key_challenge(&app, "leo").await;
    options["publicKey"]["challenge"] = json!(URL_SAFE_NO_PAD.encode([7u8; 32]));
    let assertion = key.get(&app.address, options);
    assert_refused(&app, &c, finish_sign_in(&app, &c, assertion).await).await;
}

#[tokio::test]
async fn an_answer_without_a_challenge_in_progress_is_refused() {
    let app = spawn_app().await;
    let mut key = Key::new();
    signed_in_user_with_key(&app, "mallory", &mut key).await;

    // The answer to one login's challenge, replayed on another login.
    let (first, options) = password_then_key_challenge(&app, "mallory").await;
    let assertion = key.get(&app.address, options);
    let c = client();
    app.login(&c, "mallory", PASSWORD).await;
    assert_refused(&app, &c, finish_sign_in(&app, &c, assertion.clone()).await).await;
    // Its own login still accepts it once.
    assert_eq!(finish_sign_in(&app, &first, assertion).await.status(), 200);
}

#[tokio::test]
async fn a_challenge_is_answered_once() {
    let app = spawn_app().await;
    let mut key = Key::new();
    signed_in_user_with_key(&app, "niaj", &mut key).await;

    // A captured answer is no good to a thief who knows the password: the
    // thief's login has its own challenge.
    let (victim, options) = password_then_key_challenge(&app, "niaj").await;
    let captured = key.get(&app.address, options);
    assert_eq!(
        finish_sign_in(&app, &victim, captured.clone())
            .await
            .status(),
        200
    );
    let (thief, _) = password_then_key_challenge(&app, "niaj").await;
    assert_refused(&app, &thief, finish_sign_in(&app, &thief, captured).await).await;

    // Within one login, a challenge is spent by the first answer, even a
    // refused one: a good answer to the same challenge then fails too.
    let (c, options) = password_then_key_challenge(&app, "niaj").await;
    let elsewhere = format!("http://localhost:{}", app.port.wrapping_add(1));
    let wrong = key.get(&elsewhere, options.clone());
    assert_refused(&app, &c, finish_sign_in(&app, &c, wrong).await).await;
    let right = key.get(&app.address, options);
    assert_refused(&app, &c, finish_sign_in(&app, &c, right).await).await;
}

#[tokio::test]
async fn another_users_key_is_refused() {
    let app = spawn_app().await;
    let (mut alices, mut bobs) = (Key::new(), Key::new());
    signed_in_user_with_key(&app, "olivia", &mut alices).await;
    signed_in_user_with_key(&app, "peggy", &mut bobs).await;

    // Peggy's challenge, answered by Olivia's key (the options edited to name it).
    let (c, mut options) = password_then_key_challenge(&app, "peggy").await;
    options["publicKey"]["allowCredentials"] =
        json!([{"type": "public-key", "id": alices.credential_id()}]);
    let assertion = alices.get(&app.address, options);
    assert_refused(&app, &c, finish_sign_in(&app, &c, assertion).await).await;
}

#[tokio::test]
async fn a_cloned_key_whose_counter_went_back_is_refused() {
    let app = spawn_app().await;
    let mut key = Key::new();
    signed_in_user_with_key(&app, "quinn", &mut key).await;
    let mut clone = key.copy();

    sign_in_with_key(&app, "quinn", &mut key).await; // counter 1
    let (c, options) = password_then_key_challenge(&app, "quinn").await;
    let assertion = clone.get(&app.address, options); // counter 1 again
    assert_refused(&app, &c, finish_sign_in(&app, &c, assertion).await).await;

    // The real key goes on working.
    sign_in_with_key(&app, "quinn", &mut key).await;
}

#[tokio::test]
async fn a_clone_is_refused_even_when_its_challenge_predates_the_real_keys_last_use() {
    let app = spawn_app().await;
    let mut key = Key::new();
    signed_in_user_with_key(&app, "rupert", &mut key).await;
    let mut clone = key.copy();

    // Two logins wait for the key at once.
    let (real, real_options) = password_then_key_challenge(&app, "rupert").await;
    let (thief, thief_options) = password_then_key_challenge(&app, "rupert").await;
    let answer = finish_sign_in(&app, &real, key.get(&app.address, real_options)).await;
    assert_eq!(answer.status(), 200); // counter 1
    let assertion = clone.get(&app.address, thief_options); // counter 1 too
    assert_refused(&app, &thief, finish_sign_in(&app, &thief, assertion).await).await;
}

#[tokio::test]
async fn refused_keys_count_toward_the_same_limit_as_wrong_codes() {
    let app = spawn_app().await;
    let (c, _, _) = app.signed_in_user_with_totp("sybil").await;
    let mut key = Key::new();
    assert_eq!(register(&app, &c, &mut key, "key").await.status(), 201);

    let c = client();
    app.login(&c, "sybil", PASSWORD).await;
    for _ in 0..2 {
        assert_error(
            app.post(&c, "/api/v1/login/totp", json!({"code": "000000"}))
                .await,
            401,
            "invalid_code",
        )
        .await;
    }
    for _ in 0..3 {
        let options = json_of(
            app.post(&c, "/api/v1/login/security-key/begin", json!({}))
                .await,
        )
        .await;
        let mut assertion = key.get(&app.address, options);
        let signature = assertion["response"]["signature"].as_str().unwrap();
        assertion["response"]["signature"] = json!(flip_a_character(signature, 20));
        assert_refused(&app, &c, finish_sign_in(&app, &c, assertion).await).await;
    }
    // Five failures: the pending login is void, the password is needed again.
    assert_error(
        app.post(&c, "/api/v1/login/security-key/begin", json!({}))
            .await,
        401,
        "unauthenticated",
    )
    .await;
}

#[tokio::test]
async fn a_user_without_a_key_gets_no_key_challenge() {
    let app = spawn_app().await;
    app.signed_in_user_with_totp("trent").await;
    let c = client();
    app.login(&c, "trent", PASSWORD).await;
    assert_error(
        app.post(&c, "/api/v1/login/security-key/begin", json!({}))
            .await,
        400,
        "invalid_request",
    )
    .await;
    let anonymous = client();
    assert_error(
        app.post(&anonymous, "/api/v1/login/security-key/begin", json!({}))
            .await,
        401,
        "unauthenticated",
    )
    .await;
    assert_error(
        app.post(&anonymous, "/api/v1/login/security-key/finish", json!({}))
            .await,
        400,
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn the_endpoints_take_only_post() {
    let app = spawn_app().await;
    let c = client();
    for path in [
        "/api/v1/me/security-keys/begin",
        "/api/v1/me/security-keys/finish",
        "/api/v1/login/security-key/begin",
        "/api/v1/login/security-key/finish",
    ] {
        assert_error(app.get(&c, path).await, 405, "method_not_allowed").await;
    }
}

#[tokio::test]
async fn a_removed_key_no_longer_signs_in() {
    let app = spawn_app().await;
    let (c, _, _) = app.signed_in_user_with_totp("uma").await;
    let mut key = Key::new();
    let answer = register(&app, &c, &mut key, "Lost key").await;
    let id = json_of(answer).await["id"].as_str().unwrap().to_owned();

    let (waiting, options) = password_then_key_challenge(&app, "uma").await;
    let removed = c
        .delete(app.url(&format!("/api/v1/me/devices/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    let assertion = key.get(&app.address, options);
    assert_refused(
        &app,
        &waiting,
        finish_sign_in(&app, &waiting, assertion).await,
    )
    .await;

    let fresh = client();
    let answer = json_of(app.login(&fresh, "uma", PASSWORD).await).await;
    assert_eq!(answer["methods"], json!(["totp"]));
}

#[tokio::test]
async fn keys_count_toward_the_eight_factor_limit() {
    let app = spawn_app().await;
    let mut first = Key::new();
    let c = signed_in_user_with_key(&app, "victor", &mut first).await;
    for n in 2..=8 {
        let mut key = Key::new();
        let answer = register(&app, &c, &mut key, &format!("key {n}")).await;
        assert_eq!(answer.status(), 201, "key {n}");
    }
    assert_error(
        app.post(
            &c,
            "/api/v1/me/security-keys/begin",
            json!({"name": "ninth"}),
        )
        .await,
        409,
        "too_many_devices",
    )
    .await;
    assert_error(
        app.post(&c, "/api/v1/me/totp", json!({"name": "ninth"}))
            .await,
        409,
        "too_many_devices",
    )
    .await;
}

#[tokio::test]
async fn the_credential_report_counts_keys_and_a_key_alone_is_mfa() {
    let app = spawn_app().await;
    let (mut one, mut two) = (Key::new(), Key::new());
    let c = signed_in_user_with_key(&app, "wendy", &mut one).await;
    assert_eq!(register(&app, &c, &mut two, "spare").await.status(), 201);

    let report = app.auth().await.credential_report().await.unwrap();
    let row = report
        .lines()
        .find(|line| line.starts_with("wendy,"))
        .unwrap();
    let cells: Vec<&str> = row.split(',').collect();
    // mfa_active, totp_devices, security_keys
    assert_eq!(&cells[6..9], ["true", "0", "2"]);
}

#[tokio::test]
async fn the_pages_offer_keys_with_a_script_and_no_inline_code() {
    let app = spawn_app().await;
    let script = app.get(&client(), "/static/webauthn.js").await;
    assert_eq!(script.status(), 200);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let script = script.text().await.unwrap();
    for needed in [
        "navigator.credentials.create",
        "navigator.credentials.get",
        "InvalidStateError",
    ] {
        assert!(script.contains(needed), "{needed}");
    }

    // First login: the enrolment page links to the key page.
    app.create_user("xavier", false).await;
    let c = client();
    app.login(&c, "xavier", PASSWORD).await;
    let enrol = app.get(&c, "/enrol").await.text().await.unwrap();
    assert!(enrol.contains("href=\"/enrol/security-key\""));
    let page = app.get(&c, "/enrol/security-key").await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("Insert and touch your key"));
    assert!(page.contains("name=\"name\""));
    assert!(page.contains("src=\"/static/webauthn.js\""));
    assert!(!page.contains("<script>"), "no inline script");

    // With a key, the second-factor page offers it (and no app form).
    let mut key = Key::new();
    assert_eq!(register(&app, &c, &mut key, "key").await.status(), 201);
    let account = app.get(&c, "/account").await.text().await.unwrap();
    assert!(account.contains("href=\"/enrol/security-key\""));
    let c = client();
    app.login(&c, "xavier", PASSWORD).await;
    let page = app
        .get(&c, "/login/second-factor")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Use your security key"));
    assert!(page.contains("data-begin=\"/api/v1/login/security-key/begin\""));
    assert!(
        !page.contains("name=\"code\""),
        "no app code field without an app"
    );
}

/// A `Set-Cookie` header's attributes (path, age, flags…), without the value.
fn cookie_attributes(cookie: &str) -> Vec<String> {
    let mut attributes: Vec<String> = cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_owned())
        .collect();
    attributes.sort();
    attributes
}

#[tokio::test]
async fn a_key_makes_the_browser_known_exactly_as_a_code_does() {
    let app = spawn_app().await;
    // What a sign-in with an authenticator code gives a new browser.
    let (_, secret, _) = app.signed_in_user_with_totp("amy").await;
    let c = client();
    app.login(&c, "amy", PASSWORD).await;
    app.next_time_step();
    let by_code = app
        .post(
            &c,
            "/api/v1/login/totp",
            json!({"code": app.totp_code(&secret)}),
        )
        .await;
    let by_code = set_cookie(&by_code, "twofold_known_client").expect("a code sign-in's cookie");

    // A first login that enrols a key.
    app.create_user("zoe", false).await;
    let c = client();
    app.login(&c, "zoe", PASSWORD).await;
    let mut key = Key::new();
    let enrolled = register(&app, &c, &mut key, "YubiKey").await;
    assert_eq!(enrolled.status(), 201);
    let at_enrolment =
        set_cookie(&enrolled, "twofold_known_client").expect("a cookie at key enrolment");

    // A later sign-in with the key, from another browser.
    let (other, options) = password_then_key_challenge(&app, "zoe").await;
    let signed_in = finish_sign_in(&app, &other, key.get(&app.address, options)).await;
    assert_eq!(signed_in.status(), 200);
    let at_sign_in =
        set_cookie(&signed_in, "twofold_known_client").expect("a cookie at key sign-in");

    for cookie in [&at_enrolment, &at_sign_in] {
        assert_eq!(cookie_attributes(cookie), cookie_attributes(&by_code));
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    }
    assert_ne!(at_enrolment, at_sign_in, "one token per browser");

    // The server remembers that browser: signing in from it again keeps the
    // cookie it holds rather than handing out another.
    app.login(&other, "zoe", PASSWORD).await;
    let options = json_of(
        app.post(&other, "/api/v1/login/security-key/begin", json!({}))
            .await,
    )
    .await;
    let again = finish_sign_in(&app, &other, key.get(&app.address, options)).await;
    assert_eq!(again.status(), 200);
    assert_eq!(set_cookie(&again, "twofold_known_client"), None);
}

/// Password, then the key, against a server at `origin`; the last answer.
async fn sign_in_at(origin: &str, key: &mut Key) -> reqwest::Response {
    let c = client();
    let login = c
        .post(format!("{origin}/api/v1/login"))
        .json(&json!({"username": "yvonne", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let options: Value = c
        .post(format!("{origin}/api/v1/login/security-key/begin"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    c.post(format!("{origin}/api/v1/login/security-key/finish"))
        .json(&key.get(origin, options))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn keys_and_their_counters_survive_a_kill_9() {
    use crate::cli::add_user_with_cli;
    use crate::restart::{free_port, serve};

    let data = tempfile::tempdir().unwrap();
    add_user_with_cli(data.path(), "yvonne");
    let port = free_port();
    let origin = format!("http://localhost:{port}");
    let url = |path: &str| format!("{origin}{path}");
    let post = |c: &reqwest::Client, path: &str, body: Value| c.post(url(path)).json(&body).send();

    let server = serve(data.path(), port).await;
    let c = client();
    post(
        &c,
        "/api/v1/login",
        json!({"username": "yvonne", "password": PASSWORD}),
    )
    .await
    .unwrap();
    let options: Value = post(
        &c,
        "/api/v1/me/security-keys/begin",
        json!({"name": "YubiKey"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let mut key = Key::new();
    let credential = key.create(&origin, options).unwrap();
    let answer = post(&c, "/api/v1/me/security-keys/finish", credential)
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    let mut copy_made_at_registration = key.copy();

    assert_eq!(sign_in_at(&origin, &mut key).await.status(), 200); // counter 1 stored

    let _server = server.killed_and_restarted(data.path(), port).await;

    let me: Value = c
        .get(url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["devices"][0]["kind"], "security_key", "the key survived");
    assert_error(
        sign_in_at(&origin, &mut copy_made_at_registration).await,
        401,
        "invalid_assertion",
    )
    .await;
    assert_eq!(
        sign_in_at(&origin, &mut key).await.status(),
        200,
        "the key still signs in"
    );
}
