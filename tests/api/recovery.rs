//! Recovery codes: ten easy-to-type codes, shown once, stored hashed, each
//! working once; a new set voids the old one.

use serde_json::{Value, json};

use crate::cli::twofold;
use crate::helpers::{PASSWORD, assert_error, client, spawn_app};
use crate::protection_helpers::{audit_events, make_recovery_codes};

async fn recovery_login(
    app: &crate::helpers::TestApp,
    username: &str,
    code: &str,
) -> (reqwest::Client, reqwest::Response) {
    let c = client();
    assert_eq!(app.login(&c, username, PASSWORD).await.status(), 200);
    let answer = app
        .post(&c, "/api/v1/login/recovery-code", json!({"code": code}))
        .await;
    (c, answer)
}

#[tokio::test]
async fn a_set_is_ten_distinct_codes_in_groups_without_look_alikes() {
    let app = spawn_app().await;
    let (session, _, _) = app.signed_in_user_with_totp("alice").await;
    let codes = make_recovery_codes(&app, &session).await;
    assert_eq!(codes.len(), 10);
    let mut unique = codes.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 10);
    for code in &codes {
        let groups: Vec<&str> = code.split('-').collect();
        assert_eq!(groups.len(), 3, "{code}");
        assert!(groups.iter().all(|g| g.len() == 4), "{code}");
        assert!(
            code.chars()
                .all(|c| c == '-' || "23456789abcdefghjkmnpqrstuvwxyz".contains(c)),
            "{code}"
        );
    }
    let me: Value = app.get(&session, "/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["recovery_codes_left"], 10);
    let created = audit_events(&app)
        .await
        .into_iter()
        .filter(|e| e.event == "recovery_codes_created")
        .count();
    assert_eq!(created, 1);
}

#[tokio::test]
async fn login_offers_recovery_codes_while_any_are_left() {
    let app = spawn_app().await;
    let (session, _, _) = app.signed_in_user_with_totp("bob").await;
    let methods = |answer: Value| answer["methods"].clone();
    let before: Value = app
        .login(&client(), "bob", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(methods(before), json!(["totp"]));
    make_recovery_codes(&app, &session).await;
    let after: Value = app
        .login(&client(), "bob", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(methods(after), json!(["totp", "recovery_code"]));
}

#[tokio::test]
async fn a_recovery_code_signs_in_once() {
    let app = spawn_app().await;
    let (session, _, _) = app.signed_in_user_with_totp("carol").await;
    let codes = make_recovery_codes(&app, &session).await;

    // Typed in upper case with spaces instead of dashes: still the code.
    let typed = codes[3].to_uppercase().replace('-', " ");
    let (c, answer) = recovery_login(&app, "carol", &typed).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.json::<Value>().await.unwrap(),
        json!({"status": "authenticated"})
    );
    let verify = app.get(&c, "/api/v1/verify").await;
    assert_eq!(verify.status(), 200);
    assert_eq!(verify.headers()["Remote-User"], "carol");

    let (again, answer) = recovery_login(&app, "carol", &codes[3]).await;
    assert_error(answer, 401, "invalid_code").await;
    assert_error(app.get(&again, "/api/v1/me").await, 401, "unauthenticated").await;

    let used: Vec<_> = audit_events(&app)
        .await
        .into_iter()
        .filter(|e| e.event == "recovery_code_used")
        .collect();
    assert_eq!(used.len(), 1);
    assert_eq!(used[0].detail, "left=9");
    let me: Value = app.get(&c, "/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["recovery_codes_left"], 9);
}

#[tokio::test]
async fn a_new_set_voids_the_old_one() {
    let app = spawn_app().await;
    let (session, _, _) = app.signed_in_user_with_totp("dave").await;
    let old = make_recovery_codes(&app, &session).await;
    let new = make_recovery_codes(&app, &session).await;
    assert!(old.iter().all(|code| !new.contains(code)));

    let (_, answer) = recovery_login(&app, "dave", &old[0]).await;
    assert_error(answer, 401, "invalid_code").await;
    let (_, answer) = recovery_login(&app, "dave", &new[0]).await;
    assert_eq!(answer.status(), 200);
}

#[tokio::test]
async fn five_wrong_recovery_codes_void_the_pending_login() {
    let app = spawn_app().await;
    let (session, _, _) = app.signed_in_user_with_totp("erin").await;
    let codes = make_recovery_codes(&app, &session).await;
    let c = client();
    app.login(&c, "erin", PASSWORD).await;
    for _ in 0..5 {
        assert_error(
            app.post(
                &c,
                "/api/v1/login/recovery-code",
                json!({"code": "aaaa-bbbb-cccc"}),
            )
            .await,
            401,
            "invalid_code",
        )
        .await;
    }
    assert_error(
        app.post(&c, "/api/v1/login/recovery-code", json!({"code": codes[0]}))
            .await,
        401,
        "unauthenticated",
    )
    .await;
    // The code was not spent by the refused attempt.
    let (_, answer) = recovery_login(&app, "erin", &codes[0]).await;
    assert_eq!(answer.status(), 200);
}

#[tokio::test]
async fn a_recovery_code_does_not_replace_enrolling_a_first_factor() {
    let app = spawn_app().await;
    app.create_user("frank", false).await;
    let c = client();
    let answer: Value = app.login(&c, "frank", PASSWORD).await.json().await.unwrap();
    assert_eq!(answer["status"], "enrolment_required");
    assert_error(
        app.post(
            &c,
            "/api/v1/login/recovery-code",
            json!({"code": "aaaa-bbbb-cccc"}),
        )
        .await,
        401,
        "invalid_code",
    )
    .await;
    assert_error(
        app.post(&client(), "/api/v1/me/recovery-codes", json!({}))
            .await,
        401,
        "unauthenticated",
    )
    .await;
    // The pending state of a first login is not a session either.
    assert_error(
        app.post(&c, "/api/v1/me/recovery-codes", json!({})).await,
        401,
        "unauthenticated",
    )
    .await;
}

#[tokio::test]
async fn codes_are_stored_only_as_keyed_hashes() {
    if crate::helpers::skipped_unless_sqlite("reading the database file") {
        return;
    }
    let app = spawn_app().await;
    let (session, _, _) = app.signed_in_user_with_totp("grace").await;
    let codes = make_recovery_codes(&app, &session).await;
    let mut bytes = std::fs::read(app.database_file()).unwrap();
    if let Ok(wal) = std::fs::read(app.database_file().with_extension("db-wal")) {
        bytes.extend(wal);
    }
    for code in &codes {
        for form in [code.clone(), code.replace('-', "")] {
            assert!(
                !bytes.windows(form.len()).any(|w| w == form.as_bytes()),
                "{form} is in the database"
            );
        }
    }
}

#[tokio::test]
async fn the_credential_report_counts_the_codes_left() {
    let app = spawn_app().await;
    let (session, _, _) = app.signed_in_user_with_totp("heidi").await;
    let codes = make_recovery_codes(&app, &session).await;
    let (_, answer) = recovery_login(&app, "heidi", &codes[9]).await;
    assert_eq!(answer.status(), 200);
    let report = twofold(app.data.path(), &["credential-report"], "");
    assert!(report.status.success());
    let text = String::from_utf8(report.stdout).unwrap();
    let row: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(row[0], "heidi");
    assert_eq!(row[9], "9", "recovery_codes_left: {row:?}");
}

#[tokio::test]
async fn the_account_page_shows_the_count_and_makes_a_new_set_shown_once() {
    let app = spawn_app().await;
    let (session, _, _) = app.signed_in_user_with_totp("ivan").await;
    let page = app.get(&session, "/account").await.text().await.unwrap();
    assert!(page.contains("You have no recovery codes"), "{page}");

    let made = session
        .post(app.url("/account/recovery-codes"))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 200);
    assert_eq!(made.headers()["cache-control"], "no-store");
    let html = made.text().await.unwrap();
    assert_eq!(html.matches("<li><code>").count(), 10, "{html}");
    let first = html
        .split("<li><code>")
        .nth(1)
        .and_then(|rest| rest.split("</code>").next())
        .unwrap()
        .to_owned();

    let page = app.get(&session, "/account").await.text().await.unwrap();
    assert!(page.contains("You have 10 unused recovery codes"), "{page}");
    assert!(!page.contains(&first), "codes are shown only once");

    // The second-factor page offers them, and a form sign-in with one works.
    let c = client();
    c.post(app.url("/login"))
        .form(&[("username", "ivan"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let second = app
        .get(&c, "/login/second-factor")
        .await
        .text()
        .await
        .unwrap();
    assert!(second.contains(r#"href="/login/recovery-code""#));
    let signed_in = c
        .post(app.url("/login/recovery-code"))
        .form(&[("code", first.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    assert_eq!(
        signed_in.headers()["location"],
        "/account?notice=recovery_used"
    );
    let page = app.get(&c, "/account").await.text().await.unwrap();
    assert!(page.contains("You have 9 unused recovery codes"), "{page}");
}
