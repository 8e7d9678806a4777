//! A right authenticator code sent several times at once: one request signs
//! in, the others are replays, refused (401 `invalid_code`) but not counted
//! as guesses, so they never lock the app.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, client, spawn_app};

#[tokio::test]
async fn parallel_replays_of_a_right_code_do_not_lock_the_app() {
    let app = spawn_app().await;
    let (_, secret, _) = app.signed_in_user_with_totp("alice").await;
    // Twice over: ten wrong guesses a day would lock the app, fourteen
    // replays must not.
    for round in 0..2 {
        let mut waiting = Vec::new();
        for _ in 0..8 {
            let c = client();
            assert_eq!(app.login(&c, "alice", PASSWORD).await.status(), 200);
            waiting.push(c);
        }
        app.next_time_step();
        let code = app.totp_code(&secret);
        let submissions: Vec<_> = waiting
            .into_iter()
            .map(|c| {
                let (url, code) = (app.url("/api/v1/login/totp"), code.clone());
                tokio::spawn(async move {
                    let answer = c
                        .post(url)
                        .json(&json!({"code": code}))
                        .send()
                        .await
                        .unwrap();
                    let status = answer.status().as_u16();
                    let body: Value = answer.json().await.unwrap_or(Value::Null);
                    (status, body["error"].as_str().unwrap_or("").to_owned())
                })
            })
            .collect();
        let mut answers = Vec::new();
        for submission in submissions {
            answers.push(submission.await.unwrap());
        }
        let signed_in = answers.iter().filter(|(status, _)| *status == 200).count();
        assert_eq!(signed_in, 1, "round {round}: {answers:?}");
        for (status, error) in answers.iter().filter(|(status, _)| *status != 200) {
            assert_eq!(
                (*status, error.as_str()),
                (401, "invalid_code"),
                "round {round}"
            );
        }
    }
    // The next right code works at once.
    let c = client();
    assert_eq!(app.login(&c, "alice", PASSWORD).await.status(), 200);
    app.next_time_step();
    let answer = app
        .post(
            &c,
            "/api/v1/login/totp",
            json!({"code": app.totp_code(&secret)}),
        )
        .await;
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
}

#[tokio::test]
async fn a_replayed_code_is_refused_with_its_own_words_and_the_same_error_code() {
    let app = spawn_app().await;
    let (_, secret, _) = app.signed_in_user_with_totp("gail").await;
    let first = client();
    app.login(&first, "gail", PASSWORD).await;
    app.next_time_step();
    let code = app.totp_code(&secret);
    let answer = app
        .post(&first, "/api/v1/login/totp", json!({"code": code}))
        .await;
    assert_eq!(answer.status(), 200);

    let second = client();
    app.login(&second, "gail", PASSWORD).await;
    let replayed = app
        .post(&second, "/api/v1/login/totp", json!({"code": code}))
        .await;
    assert_eq!(replayed.status(), 401);
    let body: Value = replayed.json().await.unwrap();
    assert_eq!(body["error"], "invalid_code");
    assert_eq!(
        body["message"],
        "this code was just used; wait for the next one"
    );

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let refused: Value = app
        .post(&second, "/api/v1/login/totp", json!({"code": wrong}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(refused["error"], "invalid_code");
    assert_eq!(
        refused["message"],
        "the code is wrong, expired or already used"
    );
}
