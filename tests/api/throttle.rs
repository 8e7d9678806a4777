//! Guessing stopped: password failures per (account, IP), per account and per
//! IP; authenticator codes per device across logins; limits kept in the store.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, assert_error, client, spawn_app, spawn_app_with};
use crate::protection_helpers::{audit_events, login_from, retry_after, wrong_code};

const WRONG: &str = "not the password at all";

#[tokio::test]
async fn five_wrong_passwords_from_one_address_get_429_with_retry_after() {
    let app = spawn_app().await;
    app.create_user("alice", false).await;
    let c = client();
    for _ in 0..5 {
        assert_error(
            app.login(&c, "alice", WRONG).await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    // Even the right password waits now: the limit is on guessing, not on wrongness.
    let refused = app.login(&c, "alice", PASSWORD).await;
    let wait = retry_after(&refused);
    assert!((55..=60).contains(&wait), "Retry-After: {wait}");
    assert_error(refused, 429, "too_many_attempts").await;

    let throttled: Vec<_> = audit_events(&app)
        .await
        .into_iter()
        .filter(|e| e.event == "login_throttled")
        .collect();
    assert_eq!(throttled.len(), 1);
    assert_eq!(throttled[0].username.as_deref(), Some("alice"));
    assert!(throttled[0].detail.contains("rule=password_account_ip"));

    app.clock.advance(wait);
    assert_eq!(app.login(&c, "alice", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn the_wait_doubles_with_each_further_failure_and_is_capped_at_15_minutes() {
    let app = spawn_app().await;
    app.create_user("bob", false).await;
    let c = client();
    for _ in 0..5 {
        app.login(&c, "bob", WRONG).await;
    }
    let mut waits = Vec::new();
    for _ in 0..6 {
        let refused = app.login(&c, "bob", WRONG).await;
        assert_eq!(refused.status(), 429);
        let wait = retry_after(&refused);
        waits.push(wait);
        app.clock.advance(wait);
        // The next guess is let through, fails, and doubles the wait.
        assert_error(
            app.login(&c, "bob", WRONG).await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    let rounded: Vec<i64> = waits.iter().map(|w| (w + 5) / 10 * 10).collect();
    assert_eq!(rounded, vec![60, 120, 240, 480, 900, 900]);
}

#[tokio::test]
async fn an_unknown_username_is_throttled_exactly_like_a_real_one() {
    let app = spawn_app().await;
    app.create_user("carol", false).await;
    let (real, unknown) = (client(), client());
    for _ in 0..5 {
        app.login(&real, "carol", WRONG).await;
        app.login(&unknown, "nobody", WRONG).await;
    }
    let (a, b) = (
        app.login(&real, "carol", WRONG).await,
        app.login(&unknown, "nobody", WRONG).await,
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (429, 429));
    // Identical but for the seconds left, which tick between the two answers.
    let without_digits = |text: String| text.replace(|c: char| c.is_ascii_digit(), "");
    assert_eq!(
        without_digits(a.text().await.unwrap()),
        without_digits(b.text().await.unwrap())
    );
}

#[tokio::test]
async fn the_limit_is_kept_in_the_store_and_survives_a_restart() {
    let app = spawn_app().await;
    app.create_user("dave", false).await;
    for _ in 0..5 {
        app.login(&client(), "dave", WRONG).await;
    }
    let data = app.data.path().to_path_buf();
    let restarted = spawn_app_with(|s| s.storage.path = data).await;
    assert_error(
        restarted.login(&client(), "dave", PASSWORD).await,
        429,
        "too_many_attempts",
    )
    .await;
}

#[tokio::test]
async fn another_account_and_another_address_are_unaffected() {
    let app = spawn_app_with(|s| s.server.trusted_proxies = vec!["127.0.0.1".into()]).await;
    app.create_user("erin", false).await;
    app.create_user("frank", false).await;
    let attacker = "198.51.100.1";
    for _ in 0..5 {
        login_from(&app, &client(), attacker, "erin", WRONG).await;
    }
    assert_error(
        login_from(&app, &client(), attacker, "erin", PASSWORD).await,
        429,
        "too_many_attempts",
    )
    .await;
    // The same address may still sign in to another account...
    let other_account = login_from(&app, &client(), attacker, "frank", PASSWORD).await;
    assert_eq!(other_account.status(), 200);
    // ...and erin herself, from her own address, is not locked out.
    let other_address = login_from(&app, &client(), "203.0.113.7", "erin", PASSWORD).await;
    assert_eq!(other_address.status(), 200);

    let ips: Vec<Option<String>> = audit_events(&app)
        .await
        .into_iter()
        .filter(|e| e.event == "login_throttled")
        .map(|e| e.ip)
        .collect();
    assert_eq!(
        ips,
        vec![Some(attacker.to_owned())],
        "the proxy named the client"
    );
}

#[tokio::test]
async fn x_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = spawn_app().await;
    app.create_user("grace", false).await;
    for i in 0..5 {
        let forged = format!("198.51.100.{i}");
        login_from(&app, &client(), &forged, "grace", WRONG).await;
    }
    assert_error(
        login_from(&app, &client(), "203.0.113.99", "grace", PASSWORD).await,
        429,
        "too_many_attempts",
    )
    .await;
    let ip = audit_events(&app).await.pop().unwrap().ip;
    assert_eq!(ip.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn password_spraying_from_one_address_is_capped_across_accounts() {
    let app = spawn_app_with(|s| {
        s.server.trusted_proxies = vec!["127.0.0.0/8".into()];
        s.throttle.ip_max_failures = 8;
    })
    .await;
    app.create_user("heidi", false).await;
    let sprayer = "198.51.100.50";
    for i in 0..8 {
        let name = format!("user{i}");
        let answer = login_from(&app, &client(), sprayer, &name, WRONG).await;
        assert_eq!(answer.status(), 401);
    }
    let refused = login_from(&app, &client(), sprayer, "heidi", PASSWORD).await;
    assert_error(refused, 429, "too_many_attempts").await;
    let rule = audit_events(&app).await.pop().unwrap().detail;
    assert!(rule.contains("rule=password_ip"), "{rule}");
    // Everyone else is unaffected.
    let elsewhere = login_from(&app, &client(), "203.0.113.8", "heidi", PASSWORD).await;
    assert_eq!(elsewhere.status(), 200);
}

#[tokio::test]
async fn distributed_guessing_slows_the_account_but_a_known_browser_still_gets_in() {
    let app = spawn_app_with(|s| {
        s.server.trusted_proxies = vec!["127.0.0.1".into()];
        s.throttle.account_max_failures = 6;
    })
    .await;
    // Ivan signed in on his laptop before: it holds a known-client cookie.
    let (laptop, secret, _) = app.signed_in_user_with_totp("ivan").await;
    for i in 0..6 {
        let bot = format!("198.51.100.{}", 10 + i);
        login_from(&app, &client(), &bot, "ivan", WRONG).await;
    }
    // A new browser from a new address must wait...
    let stranger = login_from(&app, &client(), "203.0.113.20", "ivan", PASSWORD).await;
    let wait = retry_after(&stranger);
    assert!(wait <= 15 * 60, "never blocked forever: {wait}");
    assert_error(stranger, 429, "too_many_attempts").await;
    let rule = audit_events(&app).await.pop().unwrap().detail;
    assert!(rule.contains("rule=password_account "), "{rule}");

    // ...but the known laptop, now in a café with a new address, gets in
    // with the password and a second factor.
    app.post(&laptop, "/api/v1/logout", json!({})).await;
    let answer: Value = login_from(&app, &laptop, "203.0.113.21", "ivan", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"], "second_factor_required");
    app.next_time_step();
    let signed_in = app
        .post(
            &laptop,
            "/api/v1/login/totp",
            json!({"code": app.totp_code(&secret)}),
        )
        .await;
    assert_eq!(signed_in.status(), 200);

    // And the stranger is let in once the wait is over.
    app.clock.advance(wait);
    let later = login_from(&app, &client(), "203.0.113.20", "ivan", PASSWORD).await;
    assert_eq!(later.status(), 200);
}

#[tokio::test]
async fn the_known_client_cookie_is_http_only_and_set_after_both_factors_only() {
    let app = spawn_app().await;
    let (_, secret, _) = app.signed_in_user_with_totp("judy").await;
    let c = client();
    let password_step = app.login(&c, "judy", PASSWORD).await;
    assert!(
        !password_step
            .headers()
            .get_all("set-cookie")
            .iter()
            .any(|v| v.to_str().unwrap().starts_with("twofold_known_client=")),
        "the password alone makes no browser known"
    );
    app.next_time_step();
    let signed_in = app
        .post(
            &c,
            "/api/v1/login/totp",
            json!({"code": app.totp_code(&secret)}),
        )
        .await;
    let cookie = signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("twofold_known_client="))
        .expect("a known-client cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
}

#[tokio::test]
async fn the_right_password_clears_the_count_for_its_address() {
    let app = spawn_app().await;
    app.create_user("ken", false).await;
    let c = client();
    for _ in 0..4 {
        app.login(&c, "ken", WRONG).await;
    }
    assert_eq!(app.login(&c, "ken", PASSWORD).await.status(), 200);
    for _ in 0..4 {
        assert_error(
            app.login(&c, "ken", WRONG).await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    assert_eq!(app.login(&c, "ken", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn wrong_codes_count_per_device_across_pending_logins() {
    let app = spawn_app().await;
    let (_, secret, _) = app.signed_in_user_with_totp("leo").await;
    app.next_time_step();
    let right = app.totp_code(&secret);
    // Two pending logins of five wrong codes each: fresh passwords don't
    // buy fresh guesses.
    for _ in 0..2 {
        let c = client();
        assert_eq!(app.login(&c, "leo", PASSWORD).await.status(), 200);
        for _ in 0..5 {
            assert_error(
                app.post(
                    &c,
                    "/api/v1/login/totp",
                    json!({"code": wrong_code(&right)}),
                )
                .await,
                401,
                "invalid_code",
            )
            .await;
        }
    }
    let c = client();
    assert_eq!(app.login(&c, "leo", PASSWORD).await.status(), 200);
    let refused = app
        .post(&c, "/api/v1/login/totp", json!({"code": right}))
        .await;
    let wait = retry_after(&refused);
    assert_error(refused, 429, "too_many_attempts").await;
    let rule = audit_events(&app).await.pop().unwrap().detail;
    assert!(rule.contains("rule=totp_device"), "{rule}");

    app.clock.advance(wait);
    app.next_time_step();
    let c = client();
    app.login(&c, "leo", PASSWORD).await;
    let answer = app
        .post(
            &c,
            "/api/v1/login/totp",
            json!({"code": app.totp_code(&secret)}),
        )
        .await;
    assert_eq!(answer.status(), 200);
}

#[tokio::test]
async fn throttling_can_be_turned_off() {
    let app = spawn_app_with(|s| s.throttle.enabled = false).await;
    app.create_user("mallory", false).await;
    for _ in 0..8 {
        assert_error(
            app.login(&client(), "mallory", WRONG).await,
            401,
            "invalid_credentials",
        )
        .await;
    }
}

#[tokio::test]
async fn a_throttled_form_sign_in_shows_the_wait() {
    let app = spawn_app().await;
    app.create_user("nina", false).await;
    let c = client();
    for _ in 0..5 {
        app.login(&c, "nina", WRONG).await;
    }
    let answer = c
        .post(app.url("/login"))
        .form(&[("username", "nina"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 429);
    let html = answer.text().await.unwrap();
    assert!(html.contains("Too many attempts; try again in"), "{html}");
}

#[tokio::test]
async fn parallel_guesses_cannot_slip_past_the_limit() {
    let app = spawn_app().await;
    app.create_user("oscar", false).await;
    let mut guesses = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let url = app.url("/api/v1/login");
        guesses.spawn(async move {
            client()
                .post(url)
                .json(&json!({"username": "oscar", "password": WRONG}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    let mut statuses = guesses.join_all().await;
    statuses.sort();
    assert_eq!(statuses, [vec![401; 5], vec![429; 7]].concat());
}

#[tokio::test]
async fn parallel_right_passwords_from_one_address_all_get_in() {
    let app = spawn_app().await;
    app.signed_in_user_with_totp("peggy").await;
    // Attempts in flight are not failures: eight at once (more than the
    // five a client may get wrong) all pass, each to its second factor.
    let mut sign_ins = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let url = app.url("/api/v1/login");
        sign_ins.spawn(async move {
            let answer = client()
                .post(url)
                .json(&json!({"username": "peggy", "password": PASSWORD}))
                .send()
                .await
                .unwrap();
            let status = answer.status().as_u16();
            let body: Value = answer.json().await.unwrap();
            (
                status,
                body["status"].as_str().unwrap_or_default().to_owned(),
            )
        });
    }
    for (status, outcome) in sign_ins.join_all().await {
        assert_eq!(status, 200, "{outcome}");
        assert_eq!(outcome, "second_factor_required");
    }
    // And the count they left behind is none: five wrong ones still get 401.
    for _ in 0..5 {
        assert_eq!(app.login(&client(), "peggy", WRONG).await.status(), 401);
    }
    assert_eq!(app.login(&client(), "peggy", WRONG).await.status(), 429);
}
