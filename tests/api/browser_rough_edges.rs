//! What an independent run in Chromium found, each kept fixed here: recovery
//! codes that touched, a step-up that dropped the action, a just-used code
//! told as a wrong one, a first-login page with no way out, and a hole under
//! "Signed in as" on the account page.

use serde_json::json;

use crate::browser::{Browser, LAPTOP, PHONE, Viewport};
use crate::helpers::{PASSWORD, spawn_app};

const TABLET: Viewport = Viewport {
    width: 768,
    height: 1024,
    scale: 1.0,
    mobile: false,
};
const DESKTOP: Viewport = Viewport {
    width: 1280,
    height: 800,
    scale: 1.0,
    mobile: false,
};

/// Problems with the recovery codes' boxes: a code wider than its item, a
/// number outside its item (in the gap, against the next code), items
/// overlapping or closer than 16 px side by side or 4 px one above another.
const CODES_APART: &str = r#"(() => {
  const items = Array.from(document.querySelectorAll('#recovery-codes li'));
  const box = li => {
    const r = li.getBoundingClientRect(), c = li.querySelector('code').getBoundingClientRect();
    const em = parseFloat(getComputedStyle(li).fontSize);
    return {l: r.left, r: r.right, t: r.top, b: r.bottom, cl: c.left, cr: c.right, em};
  };
  const boxes = items.map(box), problems = [];
  if (boxes.length !== 10) problems.push(boxes.length + ' codes');
  boxes.forEach((a, i) => {
    if (a.cr > a.r + 0.5) problems.push('code ' + (i + 1) + ' runs out of its item');
    if (a.cl - a.l < 1.5 * a.em) problems.push('number ' + (i + 1) + ' has no room inside its item');
    boxes.forEach((b, j) => {
      if (j <= i) return;
      const sameRow = a.t < b.b && b.t < a.b, sameColumn = a.l < b.r && b.l < a.r;
      if (sameRow && sameColumn) problems.push('codes ' + (i + 1) + ' and ' + (j + 1) + ' overlap');
      else if (sameRow && Math.max(b.l - a.r, a.l - b.r) < 16)
        problems.push('codes ' + (i + 1) + ' and ' + (j + 1) + ' are ' + Math.max(b.l - a.r, a.l - b.r) + ' px apart');
      else if (sameColumn && Math.max(b.t - a.b, a.t - b.b) < 4)
        problems.push('codes ' + (i + 1) + ' and ' + (j + 1) + ' touch above and below');
    });
  });
  return problems;
})()"#;

#[tokio::test]
async fn the_ten_recovery_codes_never_touch_at_360_768_and_1280_pixels() {
    let app = spawn_app().await;
    let (_, secret, _) = app.signed_in_user_with_totp("lena").await;
    let mut browser = Browser::launch(&app, "codes-apart", PHONE).await;
    browser.sign_in_with_app(&app, "lena", &secret).await;
    browser.click("Make recovery codes").await;
    browser.sees("They are shown only now").await;
    for viewport in [PHONE, TABLET, DESKTOP] {
        browser.resize(viewport).await;
        let problems = browser.eval(CODES_APART).await.unwrap();
        browser
            .screenshot(&format!("codes-at-{}", viewport.width))
            .await;
        assert_eq!(problems, json!([]), "at {} px", viewport.width);
        browser.check_manners("resizing the codes page").await;
    }
}

#[tokio::test]
async fn after_confirm_its_you_the_recovery_codes_are_one_press_away_and_then_made() {
    let app = spawn_app().await;
    let (_, secret, _) = app.signed_in_user_with_totp("mona").await;
    let browser = Browser::launch(&app, "step-up-codes", PHONE).await;
    browser.without_javascript().await;
    browser.sign_in_with_app(&app, "mona", &secret).await;
    app.clock.advance(11 * 60);
    browser.click("Make recovery codes").await;
    browser.confirms_its_you(&app, &secret).await;
    assert_eq!(browser.path().await, "/account/recovery-codes");
    browser
        .sees("You confirmed it's you. Press “Make recovery codes” to make them now.")
        .await;
    browser.click("Make recovery codes").await;
    browser.sees("They are shown only now").await;
    assert_eq!(
        browser
            .text_of("#recovery-codes")
            .await
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count(),
        10
    );
}

#[tokio::test]
async fn after_confirm_its_you_the_password_form_says_what_to_do() {
    let app = spawn_app().await;
    let (_, secret, _) = app.signed_in_user_with_totp("nina").await;
    let browser = Browser::launch(&app, "step-up-password", LAPTOP).await;
    browser.sign_in_with_app(&app, "nina", &secret).await;
    app.clock.advance(11 * 60);
    browser.click("Change your password").await;
    browser.confirms_its_you(&app, &secret).await;
    assert_eq!(browser.path().await, "/account/password");
    browser
        .sees("You confirmed it's you. Now type your passwords and press “Change password”.")
        .await;
}

#[tokio::test]
async fn a_code_that_was_just_used_says_so_and_a_wrong_one_does_not() {
    let app = spawn_app().await;
    let (_, secret, _) = app.signed_in_user_with_totp("olga").await;
    let browser = Browser::launch(&app, "code-just-used", PHONE).await;
    browser.without_javascript().await;
    // Sign in with a code, and keep exactly that code: computing it again
    // later could land in the next 30 seconds and give a fresh one.
    browser.sign_in_at("/login", "olga", PASSWORD).await;
    app.next_time_step();
    let used = app.totp_code(&secret);
    browser
        .fill("Code from your authenticator app", &used)
        .await;
    browser.click("Sign in").await;
    assert_eq!(browser.path().await, "/account");
    browser.sign_out().await;

    // The same code again, while it is still within its time window.
    browser.sign_in_at("/login", "olga", PASSWORD).await;
    browser
        .fill("Code from your authenticator app", &used)
        .await;
    browser.click("Sign in").await;
    assert_eq!(
        browser
            .error_beside("Code from your authenticator app")
            .await,
        "This code was just used; wait for the next one."
    );
    let wrong = if used == "000000" { "111111" } else { "000000" };
    browser
        .fill("Code from your authenticator app", wrong)
        .await;
    browser.click("Sign in").await;
    assert_eq!(
        browser
            .error_beside("Code from your authenticator app")
            .await,
        "The code is wrong, expired or already used."
    );
    app.next_time_step();
    browser
        .fill("Code from your authenticator app", &app.totp_code(&secret))
        .await;
    browser.click("Sign in").await;
    assert_eq!(browser.path().await, "/account");
}

#[tokio::test]
async fn the_first_login_page_lets_someone_else_sign_in_and_ends_the_pending_login() {
    let app = spawn_app().await;
    app.create_user("pia", false).await;
    let browser = Browser::launch(&app, "not-you", PHONE).await;
    browser.without_javascript().await;
    browser.sign_in_at("/login", "pia", PASSWORD).await;
    assert_eq!(browser.path().await, "/enrol");
    browser.sees("Protect your account").await;
    browser.sees("Not you?").await;
    browser.click("Sign in as someone else").await;
    assert_eq!(browser.path().await, "/login");
    // The password step is forgotten: enrolling is no longer offered.
    browser.open("/enrol").await;
    assert_eq!(browser.path().await, "/login");
}

#[tokio::test]
async fn no_hole_under_signed_in_as_on_the_account_page() {
    let app = spawn_app().await;
    let (_, secret, _) = app.signed_in_user_with_totp("rosa").await;
    let mut browser = Browser::launch(&app, "account-head", LAPTOP).await;
    browser.sign_in_with_app(&app, "rosa", &secret).await;
    for viewport in [PHONE, LAPTOP] {
        browser.resize(viewport).await;
        let gaps = browser
            .eval(
                "(() => { const lead = document.querySelector('.account-head .lead').getBoundingClientRect(); \
                   const panels = Array.from(document.querySelectorAll('section.panel')); \
                   const first = panels[0].getBoundingClientRect(); \
                   const last = panels[0].lastElementChild.getBoundingClientRect(); \
                   const second = panels[1].getBoundingClientRect(); \
                   return {head: first.top - lead.bottom, between: second.top - last.bottom}; })()",
            )
            .await
            .unwrap();
        let (head, between) = (
            gaps["head"].as_f64().unwrap(),
            gaps["between"].as_f64().unwrap(),
        );
        assert!(
            head <= between + 4.0,
            "at {} px the gap under \"Signed in as\" is {head} px, between panels {between} px",
            viewport.width
        );
    }
}
