//! What every store promises, checked against the store the suite runs on
//! (`TEST_STORE`): each trait method, and each atomicity promise under
//! concurrent callers — a TOTP step accepted once, a pending login promoted
//! once, a recovery code used once, throttle charges that never overrun.

use twofold::model::Timestamp;
use twofold::model::access::*;
use twofold::model::throttle::{Charge, Charged, Rule};
use twofold::store::*;

use crate::helpers::{FreshStore, fresh_store};

async fn store() -> FreshStore {
    fresh_store().await
}

fn new_user(name: &str, at: Timestamp) -> NewUser {
    NewUser {
        username: name.into(),
        password_hash: format!("hash-of-{name}"),
        admin: false,
        created_at: at,
    }
}

async fn user(store: &dyn Store, name: &str) -> UserId {
    store.insert_user(new_user(name, 100)).await.unwrap().id
}

fn totp(id: &str, user_id: UserId, created_at: Timestamp, confirmed: bool) -> DeviceRecord {
    DeviceRecord {
        id: id.into(),
        user_id,
        kind: DeviceKind::Totp,
        name: format!("app {id}"),
        confirmed,
        created_at,
        last_used_at: None,
        totp_secret: Some(vec![1, 2, 3, 4]),
        totp_last_step: None,
        totp_offset_steps: 0,
        hardware: false,
        credential: None,
        credential_id: None,
    }
}

fn key(id: &str, user_id: UserId, credential_id: &[u8]) -> DeviceRecord {
    DeviceRecord {
        kind: DeviceKind::SecurityKey,
        totp_secret: None,
        credential: Some("{}".into()),
        credential_id: Some(credential_id.to_vec()),
        ..totp(id, user_id, 10, true)
    }
}

fn pending(token: u8, user_id: UserId, at: Timestamp) -> PendingRecord {
    PendingRecord {
        token_hash: [token; 32],
        user_id,
        enrolment_only: false,
        created_at: at,
        expires_at: at + 300,
        failures: 0,
    }
}

fn session(token: u8, user_id: UserId, at: Timestamp) -> SessionRecord {
    SessionRecord {
        id: format!("session-{token}"),
        token_hash: [token; 32],
        user_id,
        created_at: at,
        last_seen_at: at,
        expires_at: at + 3600,
        second_factor_at: at,
        method: "totp".into(),
        ip: Some("192.0.2.7".into()),
        user_agent: Some("test agent".into()),
    }
}

/// Sessions kept per user in these tests (the application's cap is larger).
const CAP: u32 = 50;

fn event(at: Timestamp, username: Option<&str>, name: &str) -> AuditRecord {
    AuditRecord {
        at,
        username: username.map(str::to_owned),
        event: name.into(),
        ip: Some("192.0.2.1".into()),
        user_agent: Some("test".into()),
        detail: format!("detail of {name}"),
    }
}

/// An operation's event that names the count it is given.
fn counted_event(name: &'static str) -> Option<CountedEvent> {
    Some(Box::new(move |count| {
        let mut record = event(500, None, name);
        record.detail = format!("count={count}");
        record
    }))
}

/// The events named `name` in the trail, by their detail.
async fn details_of(store: &dyn Store, name: &str) -> Vec<String> {
    let events = store.events(None, 1000).await.unwrap();
    events
        .into_iter()
        .filter(|e| e.event == name)
        .map(|e| e.detail)
        .collect()
}

/// Confirms `factor` of a signed-in user allowed many factors.
async fn confirm(store: &dyn Store, user_id: UserId, factor: NewFactor) -> FactorConfirmation {
    let gate = FactorGate::SignedIn { max_factors: 100 };
    store.confirm_factor(user_id, factor, gate).await.unwrap()
}

fn totp_step(id: &str, step: i64, at: Timestamp) -> NewFactor {
    NewFactor::Totp {
        device_id: id.into(),
        step,
        offset_steps: 0,
        at,
    }
}

/// A TOTP device that counts: enrolled, then confirmed (at step 1).
async fn confirmed_totp(store: &dyn Store, id: &str, user_id: UserId, created_at: Timestamp) {
    store
        .insert_device(totp(id, user_id, created_at, false))
        .await
        .unwrap();
    let outcome = confirm(store, user_id, totp_step(id, 1, created_at)).await;
    assert_eq!(outcome, FactorConfirmation::Confirmed);
}

/// A security key added the only way there is; whether it was.
async fn add_key(store: &dyn Store, key: DeviceRecord) -> bool {
    let user_id = key.user_id;
    confirm(store, user_id, NewFactor::SecurityKey(key)).await == FactorConfirmation::Confirmed
}

const RULE: Rule = Rule {
    max_failures: 5,
    window_secs: 600,
    lockout_secs: 60,
    max_lockout_secs: 900,
};

fn charge(key: &str) -> Charge {
    Charge {
        key: key.into(),
        rule: RULE,
        set_lock: 0,
    }
}

// ---- users ----

#[tokio::test]
async fn usernames_are_unique_case_insensitively_and_found_in_any_case() {
    let s = store().await;
    let alice = s.insert_user(new_user("Alice", 100)).await.unwrap();
    assert_eq!(alice.username, "Alice");
    assert_eq!(alice.created_at, 100);
    assert_eq!(alice.password_changed_at, 100);
    assert!(!alice.admin && !alice.disabled);
    assert!(matches!(
        s.insert_user(new_user("ALICE", 101)).await,
        Err(StoreError::UsernameTaken)
    ));
    let found = s.user_by_name("aLiCe").await.unwrap().unwrap();
    assert_eq!(found.id, alice.id);
    assert_eq!(
        s.user_by_id(alice.id).await.unwrap().unwrap().username,
        "Alice"
    );
    assert!(s.user_by_name("bob").await.unwrap().is_none());
    assert!(s.user_by_id(alice.id + 1000).await.unwrap().is_none());
}

#[tokio::test]
async fn concurrent_inserts_of_one_name_make_one_user() {
    let s = store().await;
    let attempts = (0..8).map(|i| {
        let s = s.clone();
        let name = if i % 2 == 0 { "carol" } else { "CAROL" };
        tokio::spawn(async move { s.insert_user(new_user(name, 100)).await.is_ok() })
    });
    let made = futures_count(attempts).await;
    assert_eq!(made, 1);
}

#[tokio::test]
async fn a_password_hash_is_replaced() {
    let s = store().await;
    let id = user(&**s, "dave").await;
    s.replace_password_hash(id, "stronger".into())
        .await
        .unwrap();
    let dave = s.user_by_id(id).await.unwrap().unwrap();
    assert_eq!(dave.password_hash, "stronger");
    assert_eq!(
        dave.password_changed_at, 100,
        "same password, same change time"
    );
}

#[tokio::test]
async fn credential_summaries_count_confirmed_factors_and_unused_codes_by_name() {
    let s = store().await;
    let bob = user(&**s, "bob").await;
    let alice = user(&**s, "alice").await;
    confirmed_totp(&**s, "t1", alice, 1).await;
    s.insert_device(totp("t2", alice, 2, false)).await.unwrap();
    assert!(add_key(&**s, key("k1", alice, b"c1")).await);
    s.replace_recovery_codes(alice, vec![[1; 32], [2; 32], [3; 32]])
        .await
        .unwrap();
    assert!(s.use_recovery_code(alice, [2; 32], 50).await.unwrap());
    let summaries = s.credential_summaries().await.unwrap();
    let names: Vec<_> = summaries.iter().map(|c| c.user.username.as_str()).collect();
    assert_eq!(names, ["alice", "bob"]);
    assert_eq!(summaries[0].totp_devices, 1);
    assert_eq!(summaries[0].security_keys, 1);
    assert_eq!(summaries[0].recovery_codes_left, 2);
    assert_eq!(summaries[1].user.id, bob);
    assert_eq!(
        (summaries[1].totp_devices, summaries[1].security_keys),
        (0, 0)
    );
}

// ---- devices ----

#[tokio::test]
async fn devices_come_back_whole_and_in_insertion_order() {
    let s = store().await;
    let id = user(&**s, "erin").await;
    // Same creation time: insertion order decides.
    for name in ["c", "a", "b"] {
        s.insert_device(totp(name, id, 5, true)).await.unwrap();
    }
    // Only a confirmation makes a device count, whatever the record says.
    assert!(s.devices_of(id).await.unwrap().iter().all(|d| !d.confirmed));
    let mut hardware = totp("h", id, 6, false);
    hardware.hardware = true;
    hardware.totp_offset_steps = -2;
    hardware.totp_last_step = Some(7);
    hardware.last_used_at = Some(9);
    s.insert_device(hardware).await.unwrap();
    let devices = s.devices_of(id).await.unwrap();
    let ids: Vec<_> = devices.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["c", "a", "b", "h"]);
    let h = &devices[3];
    assert!(h.hardware && !h.confirmed);
    assert_eq!(h.kind, DeviceKind::Totp);
    assert_eq!(h.totp_secret.as_deref(), Some(&[1, 2, 3, 4][..]));
    assert_eq!(
        (h.totp_offset_steps, h.totp_last_step, h.last_used_at),
        (-2, Some(7), Some(9))
    );
    assert_eq!(h.name, "app h");
    assert_eq!(h.created_at, 6);
}

#[tokio::test]
async fn a_totp_step_is_accepted_once_only_forward_and_only_on_a_confirmed_device() {
    let s = store().await;
    let id = user(&**s, "frank").await;
    s.insert_device(totp("d", id, 1, false)).await.unwrap();
    assert!(
        !s.accept_totp_step("d", 5, 200, None).await.unwrap(),
        "unconfirmed"
    );
    let confirmation = NewFactor::Totp {
        device_id: "d".into(),
        step: 10,
        offset_steps: 1,
        at: 300,
    };
    assert_eq!(
        confirm(&**s, id, confirmation).await,
        FactorConfirmation::Confirmed
    );
    assert!(!s.accept_totp_step("d", 10, 301, None).await.unwrap());
    assert!(!s.accept_totp_step("d", 9, 302, None).await.unwrap());
    let device = s.devices_of(id).await.unwrap().remove(0);
    assert!(device.confirmed);
    assert_eq!(device.totp_last_step, Some(10));
    assert_eq!(device.totp_offset_steps, 1);
    assert_eq!(device.last_used_at, Some(300));
    assert!(s.accept_totp_step("d", 11, 330, None).await.unwrap());
    let device = s.devices_of(id).await.unwrap().remove(0);
    assert_eq!(device.totp_offset_steps, 1, "no offset keeps the old one");
    assert!(s.accept_totp_step("d", 12, 360, Some(-1)).await.unwrap());
    let device = s.devices_of(id).await.unwrap().remove(0);
    assert_eq!(
        (device.totp_offset_steps, device.last_used_at),
        (-1, Some(360))
    );
    assert!(!s.accept_totp_step("missing", 99, 1, None).await.unwrap());
}

#[tokio::test]
async fn a_totp_step_raced_by_many_requests_is_accepted_once() {
    let s = store().await;
    let id = user(&**s, "grace").await;
    confirmed_totp(&**s, "d", id, 1).await;
    let attempts = (0..16).map(|_| {
        let s = s.clone();
        tokio::spawn(async move { s.accept_totp_step("d", 42, 1, None).await.unwrap() })
    });
    assert_eq!(futures_count(attempts).await, 1);
}

#[tokio::test]
async fn devices_are_deleted_renamed_and_stale_enrolments_dropped() {
    let s = store().await;
    let id = user(&**s, "heidi").await;
    let other = user(&**s, "ivan").await;
    s.insert_device(totp("old", id, 10, false)).await.unwrap();
    s.insert_device(totp("new", id, 20, false)).await.unwrap();
    confirmed_totp(&**s, "kept", id, 5).await;
    s.delete_unconfirmed_before(id, 15).await.unwrap();
    let ids: Vec<_> = s
        .devices_of(id)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(ids, ["kept", "new"], "oldest first");

    assert!(
        !s.rename_device(id, "new", "x").await.unwrap(),
        "unconfirmed"
    );
    assert!(
        !s.rename_device(other, "kept", "x").await.unwrap(),
        "not theirs"
    );
    assert!(s.rename_device(id, "kept", "work phone").await.unwrap());
    let kept = s.devices_of(id).await.unwrap().remove(0);
    assert_eq!(kept.name, "work phone");

    let removal = |user, device: &'static str| {
        let s = s.clone();
        async move { s.delete_device(user, device).await.unwrap() }
    };
    assert_eq!(removal(other, "kept").await, DeviceRemoval::NotFound);
    assert_eq!(removal(id, "kept").await, DeviceRemoval::LastFactor);
    assert_eq!(removal(id, "new").await, DeviceRemoval::Removed);
    confirmed_totp(&**s, "second", id, 30).await;
    assert_eq!(removal(id, "kept").await, DeviceRemoval::Removed);
    assert_eq!(removal(id, "kept").await, DeviceRemoval::NotFound);
    let ids: Vec<_> = s
        .devices_of(id)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(ids, ["second"]);
}

#[tokio::test]
async fn parallel_removals_never_take_the_last_factor() {
    let s = store().await;
    let id = user(&**s, "pat").await;
    for (n, device) in ["a", "b", "c"].into_iter().enumerate() {
        confirmed_totp(&**s, device, id, n as Timestamp).await;
    }
    let removals = ["a", "b", "c"].map(|device| {
        let s = s.clone();
        tokio::spawn(
            async move { s.delete_device(id, device).await.unwrap() == DeviceRemoval::Removed },
        )
    });
    assert_eq!(futures_count(removals.into_iter()).await, 2);
    assert_eq!(s.devices_of(id).await.unwrap().len(), 1);
}

// ---- pending logins and sessions ----

#[tokio::test]
async fn a_pending_login_is_opened_counted_and_removed() {
    let s = store().await;
    let id = user(&**s, "judy").await;
    s.open_pending_login(pending(1, id, 200), event(200, Some("judy"), "password_ok"))
        .await
        .unwrap();
    let judy = s.user_by_id(id).await.unwrap().unwrap();
    assert_eq!(judy.password_last_used_at, Some(200));
    let events = s.events(Some("judy"), 10).await.unwrap();
    assert_eq!(events, vec![event(200, Some("judy"), "password_ok")]);

    let mut enrol = pending(2, id, 210);
    enrol.enrolment_only = true;
    s.insert_pending(enrol).await.unwrap();
    let read = s.pending([2; 32]).await.unwrap().unwrap();
    assert!(read.enrolment_only);
    assert_eq!((read.created_at, read.expires_at), (210, 510));

    assert_eq!(s.count_pending_failure([1; 32]).await.unwrap(), 1);
    assert_eq!(s.count_pending_failure([1; 32]).await.unwrap(), 2);
    assert_eq!(s.pending([1; 32]).await.unwrap().unwrap().failures, 2);
    assert_eq!(s.count_pending_failure([9; 32]).await.unwrap(), u32::MAX);

    s.delete_pending([1; 32]).await.unwrap();
    assert!(s.pending([1; 32]).await.unwrap().is_none());
}

#[tokio::test]
async fn a_pending_login_raced_by_many_requests_is_promoted_once() {
    let s = store().await;
    let id = user(&**s, "kim").await;
    s.insert_pending(pending(1, id, 100)).await.unwrap();
    let attempts = (0..16u8).map(|i| {
        let s = s.clone();
        tokio::spawn(async move {
            s.promote_pending([1; 32], session(100 + i, id, 100), CAP)
                .await
                .unwrap()
        })
    });
    assert_eq!(futures_count(attempts).await, 1);
    assert!(s.pending([1; 32]).await.unwrap().is_none());
    let mut live = 0;
    for i in 0..16u8 {
        live += s.session([100 + i; 32]).await.unwrap().is_some() as usize;
    }
    assert_eq!(live, 1, "one session, from the one promotion");
}

#[tokio::test]
async fn a_session_is_read_with_its_user_touched_forward_and_ended() {
    let s = store().await;
    let id = user(&**s, "leo").await;
    s.insert_pending(pending(1, id, 100)).await.unwrap();
    assert!(
        s.promote_pending([1; 32], session(2, id, 100), CAP)
            .await
            .unwrap()
    );
    let (read, leo) = s.session_with_user([2; 32]).await.unwrap().unwrap();
    assert_eq!(read.user_id, id);
    assert_eq!(read.expires_at, 3700);
    assert_eq!(leo.username, "leo");
    s.touch_session([2; 32], 150).await.unwrap();
    s.touch_session([2; 32], 120).await.unwrap();
    assert_eq!(s.session([2; 32]).await.unwrap().unwrap().last_seen_at, 150);
    s.delete_session([2; 32]).await.unwrap();
    assert!(s.session([2; 32]).await.unwrap().is_none());
    assert!(s.session_with_user([2; 32]).await.unwrap().is_none());
}

#[tokio::test]
async fn every_session_and_pending_login_of_a_user_ends_together() {
    let s = store().await;
    let id = user(&**s, "mallory").await;
    let other = user(&**s, "nina").await;
    for t in 1..=2 {
        s.insert_pending(pending(t, id, 100)).await.unwrap();
        assert!(
            s.promote_pending([t; 32], session(t + 10, id, 100), CAP)
                .await
                .unwrap()
        );
    }
    s.insert_pending(pending(3, id, 100)).await.unwrap();
    s.insert_pending(pending(4, other, 100)).await.unwrap();
    s.delete_sessions_of(id).await.unwrap();
    assert!(s.session([11; 32]).await.unwrap().is_none());
    assert!(s.session([12; 32]).await.unwrap().is_none());
    assert!(s.pending([3; 32]).await.unwrap().is_none());
    assert!(s.pending([4; 32]).await.unwrap().is_some(), "not theirs");
}

#[tokio::test]
async fn the_sweep_removes_expired_and_idle_sessions_pending_logins_and_ceremonies() {
    let s = store().await;
    let id = user(&**s, "oscar").await;
    let at = |t: u8, last_seen: Timestamp, expires: Timestamp| {
        let mut r = session(t, id, 0);
        r.last_seen_at = last_seen;
        r.expires_at = expires;
        r
    };
    let records = [at(1, 900, 5000), at(2, 100, 5000), at(3, 900, 1000)];
    for (i, record) in records.into_iter().enumerate() {
        let p = 50 + i as u8;
        s.insert_pending(pending(p, id, 0)).await.unwrap();
        assert!(s.promote_pending([p; 32], record, CAP).await.unwrap());
    }
    s.insert_pending(pending(60, id, 0)).await.unwrap(); // expires at 300
    s.insert_pending(pending(61, id, 900)).await.unwrap(); // expires at 1200
    s.put_ceremony(ceremony(70, id, 500), 0).await.unwrap();
    s.put_ceremony(ceremony(71, id, 5000), 0).await.unwrap();
    // now 1000, idle 600: session 2 is idle, 3 expired; pending 60 and ceremony 70 expired.
    assert_eq!(s.count_live_sessions(1000, 600).await.unwrap(), 1);
    assert_eq!(s.delete_expired(1000, 600).await.unwrap(), 4);
    assert!(s.session([1; 32]).await.unwrap().is_some());
    assert!(s.session([2; 32]).await.unwrap().is_none());
    assert!(s.session([3; 32]).await.unwrap().is_none());
    assert!(s.pending([61; 32]).await.unwrap().is_some());
    let auth = CeremonyPurpose::Authentication;
    assert!(
        s.take_ceremony([71; 32], auth, 1000)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(s.delete_expired(1000, 600).await.unwrap(), 0);
}

// ---- sessions people see and end ----

#[tokio::test]
async fn sessions_come_back_whole_newest_first_and_end_by_handle_or_all_but_one() {
    let s = store().await;
    let id = user(&**s, "sven").await;
    let other = user(&**s, "tove").await;
    for (t, at) in [(1u8, 100), (2, 200), (3, 200)] {
        s.insert_session(session(t, id, at), CAP).await.unwrap();
    }
    s.insert_session(session(9, other, 100), CAP).await.unwrap();
    let listed = s.sessions_of(id).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|r| r.id.as_str()).collect();
    // Newest first; of two opened in the same second, the later insert first.
    assert_eq!(ids, ["session-3", "session-2", "session-1"]);
    let first = &listed[2];
    assert_eq!(first.token_hash, [1; 32]);
    assert_eq!(
        (
            first.method.as_str(),
            first.ip.as_deref(),
            first.user_agent.as_deref()
        ),
        ("totp", Some("192.0.2.7"), Some("test agent"))
    );
    let (read, _) = s.session_with_user([1; 32]).await.unwrap().unwrap();
    assert_eq!(read.id, "session-1");

    assert!(
        !s.delete_session_by_id(id, "session-9").await.unwrap(),
        "not theirs"
    );
    assert!(s.delete_session_by_id(id, "session-2").await.unwrap());
    assert!(!s.delete_session_by_id(id, "session-2").await.unwrap());
    assert!(s.session([2; 32]).await.unwrap().is_none());
    assert_eq!(
        s.delete_sessions_except(id, Some([3; 32])).await.unwrap(),
        1
    );
    let left: Vec<String> = s
        .sessions_of(id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(left, ["session-3"]);
    assert_eq!(s.delete_sessions_except(id, None).await.unwrap(), 1);
    assert!(s.sessions_of(id).await.unwrap().is_empty());
    assert!(
        s.session([9; 32]).await.unwrap().is_some(),
        "other users keep theirs"
    );
}

#[tokio::test]
async fn a_user_keeps_only_their_newest_sessions_up_to_the_cap() {
    let s = store().await;
    let id = user(&**s, "uwe").await;
    let other = user(&**s, "vera").await;
    s.insert_session(session(50, other, 1), 2).await.unwrap();
    for t in 1..=4u8 {
        s.insert_pending(pending(t, id, 100)).await.unwrap();
        assert!(
            s.promote_pending([t; 32], session(t + 10, id, 100), 3)
                .await
                .unwrap()
        );
    }
    s.insert_session(session(20, id, 100), 3).await.unwrap();
    let ids: Vec<String> = s
        .sessions_of(id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, ["session-20", "session-14", "session-13"]);
    assert!(s.session([50; 32]).await.unwrap().is_some(), "per user");
}

fn remembered(token: u8, user_id: UserId, at: Timestamp) -> RememberedBrowserRecord {
    RememberedBrowserRecord {
        id: format!("browser-{token}"),
        token_hash: [token; 32],
        user_id,
        created_at: at,
        expires_at: at + 3600,
        last_used_at: None,
        method: "security_key".into(),
        second_factor_at: at - 5,
        ip: Some("192.0.2.8".into()),
        user_agent: Some("test browser".into()),
    }
}

#[tokio::test]
async fn remembered_browsers_are_kept_capped_listed_and_forgotten() {
    let s = store().await;
    let id = user(&**s, "wim").await;
    let other = user(&**s, "xia").await;
    for (t, at) in [(1u8, 100), (2, 200), (3, 200)] {
        s.insert_remembered_browser(remembered(t, id, at), 3)
            .await
            .unwrap();
    }
    s.insert_remembered_browser(remembered(9, other, 100), 3)
        .await
        .unwrap();
    let read = s.remembered_browser([1; 32]).await.unwrap().unwrap();
    assert_eq!(
        (
            read.id.as_str(),
            read.user_id,
            read.method.as_str(),
            read.second_factor_at
        ),
        ("browser-1", id, "security_key", 95)
    );
    assert_eq!(read.ip.as_deref(), Some("192.0.2.8"));
    assert!(s.remembered_browser([7; 32]).await.unwrap().is_none());
    // A fourth beyond a cap of three forgets the oldest.
    s.insert_remembered_browser(remembered(4, id, 300), 3)
        .await
        .unwrap();
    let ids: Vec<String> = s
        .remembered_browsers_of(id)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(ids, ["browser-4", "browser-3", "browser-2"]);

    assert!(!s.delete_remembered_browser(id, "browser-9").await.unwrap());
    assert!(s.delete_remembered_browser(id, "browser-2").await.unwrap());
    assert_eq!(
        s.delete_remembered_browsers_except(id, Some([4; 32]))
            .await
            .unwrap(),
        1
    );
    assert!(s.remembered_browser([4; 32]).await.unwrap().is_some());
    assert!(s.remembered_browser([3; 32]).await.unwrap().is_none());
    assert!(
        s.remembered_browser([9; 32]).await.unwrap().is_some(),
        "not theirs"
    );
}

#[tokio::test]
async fn a_remembered_browser_opens_a_session_recording_the_password_and_its_use() {
    let s = store().await;
    let id = user(&**s, "yan").await;
    let other = user(&**s, "zoe").await;
    s.insert_remembered_browser(remembered(1, id, 100), CAP)
        .await
        .unwrap();
    let mut opened = session(2, id, 500);
    opened.second_factor_at = 95;
    let password = event(500, Some("yan"), "login_password_ok");
    // Another user's session never opens through this browser.
    assert!(
        !s.open_remembered_session([1; 32], session(3, other, 500), CAP, password.clone())
            .await
            .unwrap()
    );
    assert!(s.session([3; 32]).await.unwrap().is_none());
    assert!(
        s.open_remembered_session([1; 32], opened, CAP, password.clone())
            .await
            .unwrap()
    );
    let (read, yan) = s.session_with_user([2; 32]).await.unwrap().unwrap();
    assert_eq!(read.second_factor_at, 95);
    assert_eq!(yan.password_last_used_at, Some(500));
    let browser = s.remembered_browser([1; 32]).await.unwrap().unwrap();
    assert_eq!(browser.last_used_at, Some(500));
    let events = s.events(Some("yan"), 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event, "login_password_ok");
    // Forgotten: nothing opens, nothing is written.
    assert!(s.delete_remembered_browser(id, "browser-1").await.unwrap());
    assert!(
        !s.open_remembered_session([1; 32], session(4, id, 600), CAP, password)
            .await
            .unwrap()
    );
    assert!(s.session([4; 32]).await.unwrap().is_none());
    assert_eq!(s.events(Some("yan"), 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_password_change_a_disable_a_reset_and_the_sweep_forget_remembered_browsers() {
    let s = store().await;
    let ids = [
        user(&**s, "ada").await,
        user(&**s, "bo").await,
        user(&**s, "cy").await,
    ];
    for (t, id) in ids.iter().enumerate() {
        s.insert_remembered_browser(remembered(t as u8 + 1, *id, 100), CAP)
            .await
            .unwrap();
    }
    s.change_password(ids[0], "new".into(), 500, [99; 32])
        .await
        .unwrap();
    assert!(s.set_disabled(ids[1], true).await.unwrap());
    s.remove_second_factors(ids[2]).await.unwrap();
    for t in 1..=3u8 {
        assert!(
            s.remembered_browser([t; 32]).await.unwrap().is_none(),
            "{t}"
        );
    }
    // Expired ones go with the sweep.
    s.insert_remembered_browser(remembered(4, ids[0], 100), CAP)
        .await
        .unwrap();
    s.insert_remembered_browser(remembered(5, ids[0], 2000), CAP)
        .await
        .unwrap();
    assert_eq!(s.delete_expired(3700, 600).await.unwrap(), 1);
    assert!(s.remembered_browser([4; 32]).await.unwrap().is_none());
    assert!(s.remembered_browser([5; 32]).await.unwrap().is_some());
}

// ---- audit ----

#[tokio::test]
async fn audit_events_read_newest_first_filtered_limited_and_pruned() {
    let s = store().await;
    s.append_event(event(10, Some("Pat"), "a")).await.unwrap();
    s.append_event(event(20, None, "b")).await.unwrap();
    s.append_event(event(20, Some("pat"), "c")).await.unwrap();
    s.append_event(event(30, Some("quinn"), "d")).await.unwrap();
    let names =
        |events: Vec<AuditRecord>| -> Vec<String> { events.into_iter().map(|e| e.event).collect() };
    assert_eq!(
        names(s.events(None, 10).await.unwrap()),
        ["d", "c", "b", "a"]
    );
    assert_eq!(names(s.events(None, 2).await.unwrap()), ["d", "c"]);
    assert_eq!(names(s.events(Some("PAT"), 10).await.unwrap()), ["c", "a"]);
    let b = s.events(None, 10).await.unwrap().remove(2);
    assert_eq!(b, event(20, None, "b"));
    assert_eq!(s.delete_events_before(20).await.unwrap(), 1);
    assert_eq!(names(s.events(None, 10).await.unwrap()), ["d", "c", "b"]);
}

fn budget(per_window: u32) -> EventBudget {
    EventBudget {
        key: "audit|192.0.2.1".into(),
        per_window,
        window_secs: 60,
    }
}

#[tokio::test]
async fn bounded_events_merge_by_key_and_beyond_the_budget_count_on_one_summary_row() {
    let s = store().await;
    let summary = || event(10, None, "summary");
    let appended = |merge_key: Option<&str>, name: &str| {
        let s = s.clone();
        let merge_key = merge_key.map(str::to_owned);
        let name = name.to_owned();
        async move {
            s.append_bounded_event(event(10, None, &name), merge_key, budget(2), summary())
                .await
                .unwrap()
        }
    };
    assert_eq!(appended(Some("k"), "locked").await, Appended::Stored);
    assert_eq!(appended(Some("k"), "locked").await, Appended::Merged);
    assert_eq!(appended(None, "wrong").await, Appended::Stored);
    assert_eq!(
        appended(None, "wrong").await,
        Appended::Summarised { first: true }
    );
    assert_eq!(
        appended(None, "wrong").await,
        Appended::Summarised { first: false }
    );
    let events = s.events(None, 10).await.unwrap();
    let details: Vec<(String, String)> = events.into_iter().map(|e| (e.event, e.detail)).collect();
    assert_eq!(details.len(), 3, "{details:?}");
    assert!(
        details.contains(&("locked".into(), "detail of locked count=2".into())),
        "{details:?}"
    );
    assert!(
        details.contains(&("summary".into(), "detail of summary count=2".into())),
        "{details:?}"
    );
}

#[tokio::test]
async fn concurrent_bounded_events_never_overrun_the_budget() {
    let s = store().await;
    let tasks = (0..20).map(|_| {
        let s = s.clone();
        tokio::spawn(async move {
            s.append_bounded_event(
                event(10, None, "wrong"),
                None,
                budget(5),
                event(10, None, "summary"),
            )
            .await
            .unwrap()
                == Appended::Stored
        })
    });
    assert_eq!(futures_count(tasks).await, 5, "exactly the budget");
    let rows = s.events(None, 100).await.unwrap();
    assert_eq!(rows.len(), 6, "five events and one summary");
}

// ---- security keys ----

fn ceremony(owner: u8, user_id: UserId, expires_at: Timestamp) -> CeremonyRecord {
    CeremonyRecord {
        owner_hash: [owner; 32],
        purpose: CeremonyPurpose::Authentication,
        user_id: Some(user_id),
        device_name: None,
        state: format!("{{\"challenge\":{owner}}}"),
        expires_at,
    }
}

#[tokio::test]
async fn a_ceremony_is_taken_once_replaced_by_a_newer_one_and_never_when_expired() {
    let s = store().await;
    let id = user(&**s, "rita").await;
    let auth = CeremonyPurpose::Authentication;
    let mut registration = ceremony(1, id, 400);
    registration.purpose = CeremonyPurpose::Registration;
    registration.device_name = Some("blue key".into());
    s.put_ceremony(registration, 100).await.unwrap();
    s.put_ceremony(ceremony(1, id, 400), 100).await.unwrap();
    let mut newer = ceremony(1, id, 500);
    newer.state = "{\"challenge\":2}".into();
    s.put_ceremony(newer, 200).await.unwrap();

    let taken = s.take_ceremony([1; 32], auth, 201).await.unwrap().unwrap();
    assert_eq!(taken.state, "{\"challenge\":2}");
    assert!(s.take_ceremony([1; 32], auth, 202).await.unwrap().is_none());
    let reg = CeremonyPurpose::Registration;
    let taken = s.take_ceremony([1; 32], reg, 203).await.unwrap().unwrap();
    assert_eq!(taken.device_name.as_deref(), Some("blue key"));
    assert_eq!((taken.user_id, taken.expires_at), (Some(id), 400));

    s.put_ceremony(ceremony(2, id, 400), 300).await.unwrap();
    assert!(s.take_ceremony([2; 32], auth, 400).await.unwrap().is_none());
}

#[tokio::test]
async fn a_ceremony_raced_by_many_requests_is_taken_once() {
    let s = store().await;
    let id = user(&**s, "sam").await;
    s.put_ceremony(ceremony(1, id, 400), 100).await.unwrap();
    let attempts = (0..16).map(|_| {
        let s = s.clone();
        tokio::spawn(async move {
            let auth = CeremonyPurpose::Authentication;
            s.take_ceremony([1; 32], auth, 101).await.unwrap().is_some()
        })
    });
    assert_eq!(futures_count(attempts).await, 1);
}

#[tokio::test]
async fn a_credential_is_registered_once_and_written_back_only_when_its_counter_grows() {
    let s = store().await;
    let alice = user(&**s, "alice").await;
    let bob = user(&**s, "bob").await;
    assert!(add_key(&**s, key("a", alice, b"cred")).await);
    assert!(!add_key(&**s, key("b", bob, b"cred")).await);
    assert!(add_key(&**s, key("c", bob, b"zero")).await);
    let a = s.devices_of(alice).await.unwrap().remove(0);
    assert_eq!(a.kind, DeviceKind::SecurityKey);
    assert_eq!(a.credential_id.as_deref(), Some(&b"cred"[..]));

    assert!(
        s.record_security_key_use("a", "{\"n\":5}".into(), 5, 20)
            .await
            .unwrap()
    );
    assert!(
        !s.record_security_key_use("a", "{\"n\":5}".into(), 5, 21)
            .await
            .unwrap()
    );
    assert!(
        !s.record_security_key_use("a", "{\"n\":4}".into(), 4, 22)
            .await
            .unwrap()
    );
    let a = s.devices_of(alice).await.unwrap().remove(0);
    assert_eq!(a.credential.as_deref(), Some("{\"n\":5}"));
    assert_eq!(a.last_used_at, Some(20));
    // A key without a counter stays usable.
    assert!(
        s.record_security_key_use("c", "{}".into(), 0, 20)
            .await
            .unwrap()
    );
    assert!(
        s.record_security_key_use("c", "{}".into(), 0, 21)
            .await
            .unwrap()
    );
}

// ---- administration ----

#[tokio::test]
async fn disabling_ends_sessions_and_reports_whether_the_flag_changed() {
    let s = store().await;
    let id = user(&**s, "tina").await;
    s.insert_pending(pending(1, id, 100)).await.unwrap();
    assert!(
        s.promote_pending([1; 32], session(2, id, 100), CAP)
            .await
            .unwrap()
    );
    s.insert_pending(pending(3, id, 100)).await.unwrap();
    assert!(s.set_disabled(id, true).await.unwrap());
    assert!(!s.set_disabled(id, true).await.unwrap());
    assert!(s.session([2; 32]).await.unwrap().is_none());
    assert!(s.pending([3; 32]).await.unwrap().is_none());
    assert!(s.user_by_id(id).await.unwrap().unwrap().disabled);
    assert!(s.set_disabled(id, false).await.unwrap());
    assert!(!s.user_by_id(id).await.unwrap().unwrap().disabled);
}

#[tokio::test]
async fn the_lost_device_reset_removes_every_factor_code_and_session() {
    let s = store().await;
    let id = user(&**s, "uma").await;
    let other = user(&**s, "victor").await;
    confirmed_totp(&**s, "t", id, 1).await;
    s.insert_device(totp("u", id, 2, false)).await.unwrap();
    assert!(add_key(&**s, key("k", id, b"k")).await);
    confirmed_totp(&**s, "o", other, 1).await;
    s.replace_recovery_codes(id, vec![[1; 32], [2; 32]])
        .await
        .unwrap();
    assert!(s.use_recovery_code(id, [1; 32], 5).await.unwrap());
    s.insert_pending(pending(1, id, 100)).await.unwrap();
    assert!(
        s.promote_pending([1; 32], session(2, id, 100), CAP)
            .await
            .unwrap()
    );

    let removed = s.remove_second_factors(id).await.unwrap();
    assert_eq!(
        removed,
        SecondFactorsRemoved {
            devices: 2,
            recovery_codes: 1
        }
    );
    assert!(s.devices_of(id).await.unwrap().is_empty());
    assert_eq!(s.recovery_codes_left(id).await.unwrap(), 0);
    assert!(s.session([2; 32]).await.unwrap().is_none());
    assert_eq!(s.devices_of(other).await.unwrap().len(), 1);
}

#[tokio::test]
async fn user_overviews_list_users_by_name_with_counts_and_last_sign_in() {
    let s = store().await;
    let zed = user(&**s, "zed").await;
    let amy = user(&**s, "amy").await;
    confirmed_totp(&**s, "t", zed, 1).await;
    assert!(add_key(&**s, key("k", zed, b"k")).await);
    s.record_sign_in(zed, 777).await.unwrap();
    let overviews = s.user_overviews().await.unwrap();
    let names: Vec<_> = overviews.iter().map(|o| o.user.username.as_str()).collect();
    assert_eq!(names, ["amy", "zed"]);
    assert_eq!(overviews[0].user.id, amy);
    assert_eq!(overviews[0].last_sign_in_at, None);
    assert_eq!(
        (overviews[1].totp_devices, overviews[1].security_keys),
        (1, 1)
    );
    assert_eq!(overviews[1].last_sign_in_at, Some(777));
}

// ---- throttling ----

#[tokio::test]
async fn charges_lock_at_the_limit_and_a_refund_takes_one_back() {
    let s = store().await;
    for now in 0..4 {
        let charged = s.charge_attempt(vec![charge("k")], now).await.unwrap();
        assert!(matches!(charged, Charged::Charged(ref c) if c[0].set_lock == 0));
    }
    let Charged::Charged(fifth) = s.charge_attempt(vec![charge("k")], 4).await.unwrap() else {
        panic!("the fifth failure is charged");
    };
    assert_eq!(
        fifth[0].set_lock, 64,
        "the fifth failure locks until 4 + 60"
    );
    assert_eq!(
        s.charge_attempt(vec![charge("other"), charge("k")], 10)
            .await
            .unwrap(),
        Charged::Locked {
            retry_after_secs: 54,
            key: "k".into()
        }
    );
    // Locked: nothing was charged to the other key either.
    s.refund_attempt(fifth, 4, None).await.unwrap();
    let charged = s.charge_attempt(vec![charge("other")], 11).await.unwrap();
    assert!(matches!(charged, Charged::Charged(_)));
    // The refund lifted the lock the fifth charge set.
    let charged = s.charge_attempt(vec![charge("k")], 12).await.unwrap();
    let Charged::Charged(again) = charged else {
        panic!("unlocked after the refund")
    };
    assert_eq!(again[0].set_lock, 72);
    s.refund_attempt(vec![charge("k")], 12, Some("k".into()))
        .await
        .unwrap();
    for now in 13..17 {
        let charged = s.charge_attempt(vec![charge("k")], now).await.unwrap();
        assert!(
            matches!(charged, Charged::Charged(ref c) if c[0].set_lock == 0),
            "reset"
        );
    }
}

#[tokio::test]
async fn concurrent_charges_never_overrun_a_limit() {
    let s = store().await;
    let attempts = (0..20).map(|_| {
        let s = s.clone();
        tokio::spawn(async move {
            matches!(
                s.charge_attempt(vec![charge("shared"), charge("also")], 100)
                    .await
                    .unwrap(),
                Charged::Charged(_)
            )
        })
    });
    assert_eq!(futures_count(attempts).await, 5, "exactly the limit");
}

#[tokio::test]
async fn known_clients_are_kept_extended_capped_and_swept() {
    let s = store().await;
    let id = user(&**s, "wendy").await;
    let other = user(&**s, "xavier").await;
    s.insert_known_client([1; 32], id, 100, 200).await.unwrap();
    assert!(s.is_known_client([1; 32], id, 150).await.unwrap());
    assert!(!s.is_known_client([1; 32], other, 150).await.unwrap());
    assert!(!s.is_known_client([1; 32], id, 200).await.unwrap());
    assert!(s.extend_known_client([1; 32], id, 150, 900).await.unwrap());
    assert!(s.is_known_client([1; 32], id, 800).await.unwrap());
    assert!(!s.extend_known_client([1; 32], id, 900, 1000).await.unwrap());
    assert!(
        !s.extend_known_client([1; 32], other, 150, 1000)
            .await
            .unwrap()
    );

    for i in 0..MAX_KNOWN_CLIENTS_PER_USER as u8 {
        s.insert_known_client([10 + i; 32], id, 101 + i as i64, 5000)
            .await
            .unwrap();
    }
    assert!(
        !s.is_known_client([1; 32], id, 150).await.unwrap(),
        "the oldest is forgotten"
    );
    assert!(s.is_known_client([10; 32], id, 150).await.unwrap());

    s.charge_attempt(vec![charge("stale")], 0).await.unwrap(); // forgotten at 600
    s.insert_known_client([2; 32], other, 0, 500).await.unwrap();
    assert_eq!(s.delete_stale_throttle_state(600).await.unwrap(), 2);
    assert!(!s.is_known_client([2; 32], other, 400).await.unwrap());
}

// ---- recovery codes ----

#[tokio::test]
async fn recovery_codes_are_replaced_as_a_set_and_each_used_once() {
    let s = store().await;
    let id = user(&**s, "yara").await;
    let other = user(&**s, "zoe").await;
    s.replace_recovery_codes(id, vec![[1; 32], [2; 32]])
        .await
        .unwrap();
    assert_eq!(s.recovery_codes_left(id).await.unwrap(), 2);
    assert!(!s.use_recovery_code(other, [1; 32], 5).await.unwrap());
    assert!(s.use_recovery_code(id, [1; 32], 5).await.unwrap());
    assert!(!s.use_recovery_code(id, [1; 32], 6).await.unwrap());
    assert_eq!(s.recovery_codes_left(id).await.unwrap(), 1);
    s.replace_recovery_codes(id, vec![[3; 32], [4; 32], [5; 32]])
        .await
        .unwrap();
    assert_eq!(s.recovery_codes_left(id).await.unwrap(), 3);
    assert!(
        !s.use_recovery_code(id, [2; 32], 7).await.unwrap(),
        "old set void"
    );

    let attempts = (0..16).map(|_| {
        let s = s.clone();
        tokio::spawn(async move { s.use_recovery_code(id, [4; 32], 8).await.unwrap() })
    });
    assert_eq!(futures_count(attempts).await, 1);
}

// ---- account security ----

#[tokio::test]
async fn a_password_change_keeps_only_the_current_session() {
    let s = store().await;
    let id = user(&**s, "anna").await;
    for t in [1, 2] {
        s.insert_pending(pending(t, id, 100)).await.unwrap();
        assert!(
            s.promote_pending([t; 32], session(t + 10, id, 100), CAP)
                .await
                .unwrap()
        );
    }
    s.insert_pending(pending(3, id, 100)).await.unwrap();
    s.change_password(id, "new".into(), 500, [11; 32])
        .await
        .unwrap();
    let anna = s.user_by_id(id).await.unwrap().unwrap();
    assert_eq!(
        (anna.password_hash.as_str(), anna.password_changed_at),
        ("new", 500)
    );
    assert!(s.session([11; 32]).await.unwrap().is_some());
    assert!(s.session([12; 32]).await.unwrap().is_none());
    assert!(s.pending([3; 32]).await.unwrap().is_none());
}

#[tokio::test]
async fn a_session_rotates_to_a_new_token_dropping_its_ceremonies() {
    let s = store().await;
    let id = user(&**s, "bea").await;
    s.insert_pending(pending(1, id, 100)).await.unwrap();
    assert!(
        s.promote_pending([1; 32], session(2, id, 100), CAP)
            .await
            .unwrap()
    );
    s.put_ceremony(ceremony(2, id, 900), 100).await.unwrap();
    assert!(
        s.rotate_session([2; 32], [3; 32], 400, "passkey")
            .await
            .unwrap()
    );
    assert!(s.session([2; 32]).await.unwrap().is_none());
    let rotated = s.session([3; 32]).await.unwrap().unwrap();
    assert_eq!(
        (
            rotated.second_factor_at,
            rotated.last_seen_at,
            rotated.expires_at
        ),
        (400, 400, 3700)
    );
    assert_eq!(
        rotated.method, "passkey",
        "the factor passed last names the session"
    );
    let auth = CeremonyPurpose::Authentication;
    assert!(s.take_ceremony([2; 32], auth, 401).await.unwrap().is_none());
    assert!(
        !s.rotate_session([2; 32], [4; 32], 500, "totp")
            .await
            .unwrap()
    );
    assert!(
        s.rotate_session([3; 32], [5; 32], 300, "totp")
            .await
            .unwrap()
    );
    let rotated = s.session([5; 32]).await.unwrap().unwrap();
    assert_eq!(rotated.second_factor_at, 400, "never moves back");
    assert_eq!(
        rotated.method, "passkey",
        "nor does the method of the latest factor"
    );
}

#[tokio::test]
async fn a_first_key_is_adopted_once_sealing_the_plain_seeds() {
    let s = store().await;
    assert!(s.sealed_canary().await.unwrap().is_none());
    assert!(!s.holds_seeds().await.unwrap());
    let id = user(&**s, "cleo").await;
    confirmed_totp(&**s, "d", id, 1).await;
    assert!(s.holds_seeds().await.unwrap());
    let seal: SealSeed = Box::new(|id: &str, seed: &[u8]| {
        let mut sealed = id.as_bytes().to_vec();
        sealed.extend(seed.iter().map(|b| b ^ 0xff));
        Ok(sealed)
    });
    assert!(s.adopt_key(b"canary".to_vec(), seal).await.unwrap());
    assert_eq!(
        s.sealed_canary().await.unwrap().as_deref(),
        Some(&b"canary"[..])
    );
    let device = s.devices_of(id).await.unwrap().remove(0);
    assert_eq!(device.totp_secret, Some(vec![b'd', 0xfe, 0xfd, 0xfc, 0xfb]));
    let again: SealSeed = Box::new(|_: &str, _: &[u8]| Ok(vec![0]));
    assert!(!s.adopt_key(b"other".to_vec(), again).await.unwrap());
    assert_eq!(
        s.sealed_canary().await.unwrap().as_deref(),
        Some(&b"canary"[..])
    );
}

#[tokio::test]
async fn concurrent_adoptions_adopt_one_key() {
    let s = store().await;
    let attempts = (0..6u8).map(|i| {
        let s = s.clone();
        tokio::spawn(async move {
            let seal: SealSeed = Box::new(|_: &str, seed: &[u8]| Ok(seed.to_vec()));
            s.adopt_key(vec![i], seal).await.unwrap()
        })
    });
    assert_eq!(futures_count(attempts).await, 1);
    assert!(s.sealed_canary().await.unwrap().is_some());
}

/// A stand-in re-seal: prefixes each value with what it is.
fn tagging_reseal(fail_on: Option<&'static str>) -> Reseal {
    Box::new(move |item: SealedItem<'_>, sealed: Option<&[u8]>| {
        let tag = match item {
            SealedItem::Canary => "canary".to_owned(),
            SealedItem::Seed { device_id } => format!("seed {device_id}"),
            SealedItem::RecoveryKey => "recovery".to_owned(),
            SealedItem::SigningKey { kid } => format!("signing key {kid}"),
        };
        if fail_on == Some(tag.as_str()) {
            anyhow::bail!("cannot re-seal {tag}");
        }
        let mut out = format!("{tag}:").into_bytes();
        out.extend_from_slice(sealed.unwrap_or(b"none"));
        Ok(out)
    })
}

#[tokio::test]
async fn every_sealed_value_is_resealed_in_one_transaction_or_not_at_all() {
    let s = store().await;
    let id = user(&**s, "dora").await;
    s.insert_device(totp("a", id, 1, true)).await.unwrap();
    s.insert_device(totp("b", id, 2, false)).await.unwrap();
    s.insert_device(key("k", id, b"cred")).await.unwrap();
    let keep: SealSeed = Box::new(|_: &str, seed: &[u8]| Ok(seed.to_vec()));
    assert!(s.adopt_key(b"c0".to_vec(), keep).await.unwrap());
    assert!(s.sealed_recovery_key().await.unwrap().is_none());

    // One value that can't be re-sealed: nothing is written.
    let failed = s
        .reseal_all(tagging_reseal(Some("seed b")), counted_event("rotated"))
        .await;
    assert!(failed.is_err());
    assert_eq!(details_of(&**s, "rotated").await, Vec::<String>::new());
    assert_eq!(
        s.sealed_canary().await.unwrap().as_deref(),
        Some(&b"c0"[..])
    );
    assert!(s.sealed_recovery_key().await.unwrap().is_none());
    let seeds = |devices: Vec<DeviceRecord>| -> Vec<Option<Vec<u8>>> {
        devices.into_iter().map(|d| d.totp_secret).collect()
    };
    assert_eq!(
        seeds(s.devices_of(id).await.unwrap()),
        vec![Some(vec![1, 2, 3, 4]), Some(vec![1, 2, 3, 4]), None]
    );

    // The canary, both seeds (confirmed or not) and the recovery key.
    assert_eq!(
        s.reseal_all(tagging_reseal(None), counted_event("rotated"))
            .await
            .unwrap(),
        4
    );
    // Its event, with the count, committed with it.
    assert_eq!(details_of(&**s, "rotated").await, ["count=4"]);
    assert_eq!(
        s.sealed_canary().await.unwrap().as_deref(),
        Some(&b"canary:c0"[..])
    );
    assert_eq!(
        s.sealed_recovery_key().await.unwrap().as_deref(),
        Some(&b"recovery:none"[..])
    );
    let mut a = b"seed a:".to_vec();
    a.extend([1, 2, 3, 4]);
    let mut b = b"seed b:".to_vec();
    b.extend([1, 2, 3, 4]);
    assert_eq!(
        seeds(s.devices_of(id).await.unwrap()),
        vec![Some(a), Some(b), None]
    );
    // A second rotation re-seals the stored recovery key.
    s.reseal_all(tagging_reseal(None), None).await.unwrap();
    assert_eq!(
        s.sealed_recovery_key().await.unwrap().as_deref(),
        Some(&b"recovery:recovery:none"[..])
    );
}

#[tokio::test]
async fn the_store_answers_a_health_check() {
    let s = store().await;
    s.check_readable().await.unwrap();
}

// ---- confirming a factor ----

#[tokio::test]
async fn a_refused_confirmation_writes_nothing() {
    let s = store().await;
    let id = user(&**s, "lena").await;
    let other = user(&**s, "mo").await;
    s.insert_device(totp("d", id, 1, false)).await.unwrap();
    let refused = confirm(&**s, other, totp_step("d", 5, 10)).await;
    assert_eq!(refused, FactorConfirmation::StepRefused, "not theirs");
    let refused = confirm(&**s, id, totp_step("missing", 5, 10)).await;
    assert_eq!(refused, FactorConfirmation::StepRefused);
    let device = s.devices_of(id).await.unwrap().remove(0);
    assert!(!device.confirmed && device.totp_last_step.is_none());

    assert_eq!(
        confirm(&**s, id, totp_step("d", 5, 10)).await,
        FactorConfirmation::Confirmed
    );
    let again = confirm(&**s, id, totp_step("d", 6, 11)).await;
    assert_eq!(again, FactorConfirmation::StepRefused, "already confirmed");

    // The gate: at most `max_factors` confirmed devices.
    s.insert_device(totp("e", id, 2, false)).await.unwrap();
    let gate = FactorGate::SignedIn { max_factors: 1 };
    let full = s
        .confirm_factor(id, totp_step("e", 7, 12), gate)
        .await
        .unwrap();
    assert_eq!(full, FactorConfirmation::TooManyFactors);
    let e = s.devices_of(id).await.unwrap().remove(1);
    assert!(
        !e.confirmed && e.totp_last_step.is_none(),
        "nothing written"
    );
    let gate = FactorGate::SignedIn { max_factors: 1 };
    let key = NewFactor::SecurityKey(key("k", id, b"k"));
    let full = s.confirm_factor(id, key, gate).await.unwrap();
    assert_eq!(full, FactorConfirmation::TooManyFactors);
    assert_eq!(s.devices_of(id).await.unwrap().len(), 2, "no key added");
}

#[tokio::test]
async fn parallel_confirmations_never_exceed_the_factor_limit() {
    let s = store().await;
    let id = user(&**s, "nora").await;
    let mut attempts = Vec::new();
    for n in 0..8 {
        let name = format!("app{n}");
        s.insert_device(totp(&name, id, 1, false)).await.unwrap();
        let s = s.clone();
        attempts.push(tokio::spawn(async move {
            let gate = FactorGate::SignedIn { max_factors: 3 };
            let outcome = s.confirm_factor(id, totp_step(&name, 5, 10), gate).await;
            outcome.unwrap() == FactorConfirmation::Confirmed
        }));
    }
    assert_eq!(futures_count(attempts.into_iter()).await, 3);
    let devices = s.devices_of(id).await.unwrap();
    assert_eq!(devices.iter().filter(|d| d.confirmed).count(), 3);
}

#[tokio::test]
async fn a_first_login_confirms_exactly_one_of_many_parallel_factors() {
    let s = store().await;
    let id = user(&**s, "otto").await;
    let mut first = pending(1, id, 90);
    first.enrolment_only = true;
    s.insert_pending(first).await.unwrap();
    let mut attempts = Vec::new();
    for n in 0..7u8 {
        let name = format!("app{n}");
        s.insert_device(totp(&name, id, 1, false)).await.unwrap();
        let factor = totp_step(&name, 5, 100);
        attempts.push((factor, session(100 + n, id, 100)));
    }
    attempts.push((
        NewFactor::SecurityKey(key("k", id, b"k")),
        session(107, id, 100),
    ));
    let attempts = attempts.into_iter().map(|(factor, session)| {
        let s = s.clone();
        tokio::spawn(async move {
            let gate = FactorGate::FirstLogin {
                pending: [1; 32],
                session,
            };
            s.confirm_factor(id, factor, gate).await.unwrap() == FactorConfirmation::Confirmed
        })
    });
    assert_eq!(futures_count(attempts).await, 1);
    assert!(
        s.pending([1; 32]).await.unwrap().is_none(),
        "the pending login ended"
    );
    let devices = s.devices_of(id).await.unwrap();
    assert_eq!(devices.iter().filter(|d| d.confirmed).count(), 1);
    let mut sessions = 0;
    for n in 0..8u8 {
        sessions += s.session([100 + n; 32]).await.unwrap().is_some() as usize;
    }
    assert_eq!(sessions, 1, "one session, from the one confirmation");
}

#[tokio::test]
async fn a_first_login_past_its_expiry_or_not_for_enrolment_confirms_nothing() {
    let s = store().await;
    let id = user(&**s, "pia").await;
    s.insert_device(totp("d", id, 1, false)).await.unwrap();
    let mut first = pending(1, id, 90); // expires at 390
    first.enrolment_only = true;
    s.insert_pending(first).await.unwrap();
    s.insert_pending(pending(2, id, 90)).await.unwrap(); // not enrolment-only
    for (token, at) in [([1; 32], 390), ([2; 32], 100)] {
        let gate = FactorGate::FirstLogin {
            pending: token,
            session: session(50, id, at),
        };
        let outcome = s.confirm_factor(id, totp_step("d", 5, at), gate).await;
        assert_eq!(outcome.unwrap(), FactorConfirmation::NotFirstFactor);
    }
    assert!(
        s.pending([1; 32]).await.unwrap().is_some(),
        "left as it was"
    );
    assert!(s.pending([2; 32]).await.unwrap().is_some());
    assert!(s.session([50; 32]).await.unwrap().is_none());
    assert!(!s.devices_of(id).await.unwrap()[0].confirmed);
}

// ---- a sign-in's TOTP step, in one transaction ----

/// A TOTP step of `user_id` (named `dora` in its events) for device `d1` at
/// `step`, completing pending login `pending` into session `session`;
/// `right`: the code matched the device.
fn totp_sign_in(
    user_id: UserId,
    pending: u8,
    session_token: u8,
    step: i64,
    right: bool,
) -> SecondFactorStep {
    let at = 200;
    let candidates = right
        .then(|| TotpCandidate {
            device_id: "d1".into(),
            step,
            passed_event: event(at, Some("dora"), "login_second_factor_ok"),
        })
        .into_iter()
        .collect();
    let mut voided_event = event(at, Some("dora"), "login_second_factor_failed");
    voided_event.detail = "voided".into();
    SecondFactorStep {
        user: user_id,
        now: at,
        charges: vec![charge("totp:device:d1")],
        candidates,
        pending: [pending; 32],
        passed: StepPassed {
            session: session(session_token, user_id, at),
            keep_sessions: CAP,
            known_client: KnownClientRenewal {
                current: None,
                new: [session_token.wrapping_add(100); 32],
                expires_at: at + 3600,
            },
            remember: None,
        },
        refused: StepRefused {
            max_failures: 3,
            event: event(at, Some("dora"), "login_second_factor_failed"),
            voided_event,
        },
    }
}

/// The last accepted step of the user's device `d1`.
async fn last_step(store: &dyn Store, user_id: UserId) -> Option<i64> {
    let devices = store.devices_of(user_id).await.unwrap();
    devices
        .iter()
        .find(|d| d.id == "d1")
        .unwrap()
        .totp_last_step
}

/// A user `dora` with the confirmed TOTP device `d1` (last step 1) and the
/// pending logins `pendings`.
async fn dora_signing_in(store: &dyn Store, pendings: impl IntoIterator<Item = u8>) -> UserId {
    let dora = user(store, "dora").await;
    confirmed_totp(store, "d1", dora, 10).await;
    for token in pendings {
        store
            .insert_pending(pending(token, dora, 150))
            .await
            .unwrap();
    }
    dora
}

#[tokio::test]
async fn a_totp_step_writes_the_session_sign_in_event_and_known_client_together() {
    let s = store().await;
    let dora = dora_signing_in(&**s, [1, 3]).await;
    let verdict = s
        .complete_second_factor(totp_sign_in(dora, 1, 2, 5, true))
        .await
        .unwrap();
    assert_eq!(
        verdict,
        StepVerdict::Passed {
            device_id: "d1".into(),
            new_known_client: true
        }
    );
    assert!(s.pending([1; 32]).await.unwrap().is_none());
    assert_eq!(s.session([2; 32]).await.unwrap().unwrap().user_id, dora);
    assert_eq!(last_step(&**s, dora).await, Some(5));
    assert!(s.is_known_client([102; 32], dora, 200).await.unwrap());
    let overviews = s.user_overviews().await.unwrap();
    assert_eq!(overviews[0].last_sign_in_at, Some(200));
    assert_eq!(details_of(&**s, "login_second_factor_ok").await.len(), 1);

    // The same step again, from another pending login: used once.
    let again = s
        .complete_second_factor(totp_sign_in(dora, 3, 4, 5, true))
        .await
        .unwrap();
    assert_eq!(again, StepVerdict::Replayed);
    assert!(s.pending([3; 32]).await.unwrap().is_some());
    assert!(s.session([4; 32]).await.unwrap().is_none());
    assert_eq!(details_of(&**s, "login_second_factor_ok").await.len(), 1);
}

#[tokio::test]
async fn a_totp_step_that_fails_part_way_writes_nothing() {
    let s = store().await;
    let dora = dora_signing_in(&**s, [1]).await;
    // A session already holds the token the step would start: its insert fails.
    s.insert_session(session(2, dora, 150), CAP).await.unwrap();
    let failed = s
        .complete_second_factor(totp_sign_in(dora, 1, 2, 5, true))
        .await;
    assert!(failed.is_err(), "{failed:?}");
    assert_eq!(last_step(&**s, dora).await, Some(1), "no used code");
    assert!(s.pending([1; 32]).await.unwrap().is_some());
    assert_eq!(
        s.sessions_of(dora).await.unwrap().len(),
        1,
        "no new session"
    );
    assert!(!s.is_known_client([102; 32], dora, 200).await.unwrap());
    assert_eq!(s.user_overviews().await.unwrap()[0].last_sign_in_at, None);
    assert!(details_of(&**s, "login_second_factor_ok").await.is_empty());

    // Once the collision is gone the same code still works.
    s.delete_session([2; 32]).await.unwrap();
    let verdict = s
        .complete_second_factor(totp_sign_in(dora, 1, 2, 5, true))
        .await
        .unwrap();
    assert!(matches!(verdict, StepVerdict::Passed { .. }), "{verdict:?}");
}

#[tokio::test]
async fn wrong_totp_codes_are_charged_void_the_pending_login_and_then_lock() {
    let s = store().await;
    let dora = dora_signing_in(&**s, [1, 3]).await;
    let mut verdicts = Vec::new();
    for _ in 0..3 {
        let step = totp_sign_in(dora, 1, 2, 5, false);
        verdicts.push(s.complete_second_factor(step).await.unwrap());
    }
    assert_eq!(
        verdicts,
        [false, false, true].map(|voided| StepVerdict::Refused { voided })
    );
    assert!(s.pending([1; 32]).await.unwrap().is_none());
    let failed = details_of(&**s, "login_second_factor_failed").await;
    assert_eq!(failed.iter().filter(|d| *d == "voided").count(), 1);
    assert_eq!(failed.len(), 3);

    // Two more wrong codes reach the device's limit (5): then even the
    // right code is refused, and nothing is written.
    for _ in 0..2 {
        let step = totp_sign_in(dora, 3, 4, 5, false);
        s.complete_second_factor(step).await.unwrap();
    }
    let locked = s
        .complete_second_factor(totp_sign_in(dora, 3, 4, 5, true))
        .await
        .unwrap();
    assert!(
        matches!(&locked, StepVerdict::Locked { key, retry_after_secs: 60 } if key == "totp:device:d1"),
        "{locked:?}"
    );
    assert_eq!(last_step(&**s, dora).await, Some(1));
    assert!(s.session([4; 32]).await.unwrap().is_none());
    assert_eq!(s.pending([3; 32]).await.unwrap().unwrap().failures, 2);
}

#[tokio::test]
async fn a_right_totp_code_without_its_pending_login_writes_nothing() {
    let s = store().await;
    let dora = dora_signing_in(&**s, []).await;
    let verdict = s
        .complete_second_factor(totp_sign_in(dora, 1, 2, 5, true))
        .await
        .unwrap();
    assert_eq!(verdict, StepVerdict::PendingGone);
    assert_eq!(last_step(&**s, dora).await, Some(1));
    assert!(s.session([2; 32]).await.unwrap().is_none());
}

#[tokio::test]
async fn parallel_totp_steps_with_one_code_sign_in_once() {
    let s = store().await;
    let dora = dora_signing_in(&**s, 1..=8).await;
    let steps = (1..=8u8).map(|token| {
        let s = s.clone();
        tokio::spawn(async move {
            let step = totp_sign_in(dora, token, token + 10, 7, true);
            matches!(
                s.complete_second_factor(step).await.unwrap(),
                StepVerdict::Passed { .. }
            )
        })
    });
    assert_eq!(futures_count(steps).await, 1);
    assert_eq!(s.sessions_of(dora).await.unwrap().len(), 1);
    assert_eq!(last_step(&**s, dora).await, Some(7));
}

#[tokio::test]
async fn totp_steps_racing_the_removal_of_their_device_all_answer() {
    let s = store().await;
    let dora = dora_signing_in(&**s, 1..=8).await;
    confirmed_totp(&**s, "d2", dora, 11).await;
    let steps: Vec<_> = (1..=8u8)
        .map(|token| {
            let s = s.clone();
            tokio::spawn(async move {
                let step = totp_sign_in(dora, token, token + 10, 7 + i64::from(token), true);
                s.complete_second_factor(step).await.map(drop)
            })
        })
        .collect();
    let removal = {
        let s = s.clone();
        tokio::spawn(async move { s.delete_device(dora, "d1").await.map(drop) })
    };
    for step in steps {
        step.await.unwrap().expect("a step answers (no deadlock)");
    }
    removal.await.unwrap().expect("the removal answers");
    assert!(
        s.devices_of(dora)
            .await
            .unwrap()
            .iter()
            .all(|d| d.id != "d1")
    );
}

/// How many of the spawned tasks answered `true`.
async fn futures_count(tasks: impl Iterator<Item = tokio::task::JoinHandle<bool>>) -> usize {
    let tasks: Vec<_> = tasks.collect();
    let mut count = 0;
    for task in tasks {
        count += task.await.unwrap() as usize;
    }
    count
}

// ---- export and import ----

/// Collects an export in memory, as the file would hold it.
#[derive(Default)]
struct Collected {
    source: Option<ExportSource>,
    records: Vec<ExportRecord>,
}

impl ExportSink for Collected {
    fn begin(&mut self, source: &ExportSource) -> anyhow::Result<()> {
        assert!(self.source.is_none(), "begin is called once");
        self.source = Some(source.clone());
        Ok(())
    }

    fn record(&mut self, record: ExportRecord) -> anyhow::Result<()> {
        assert!(self.source.is_some(), "begin comes first");
        self.records.push(record);
        Ok(())
    }
}

async fn exported(store: &dyn Store) -> Vec<ExportRecord> {
    let mut sink = Collected::default();
    let count = store.export_records(&mut sink).await.unwrap();
    assert_eq!(count, sink.records.len() as u64);
    sink.records
}

fn source_of(records: Vec<ExportRecord>) -> RecordSource {
    Box::new(records.into_iter().map(Ok))
}

/// A store holding one of every lasting row, and a session and pending login.
async fn populated_store() -> FreshStore {
    let s = store().await;
    let first = user(&**s, "Alice").await;
    user(&**s, "gone").await;
    let bob = user(&**s, "bob").await;
    assert!(bob > first);
    s.insert_device(totp("t", first, 3, false)).await.unwrap();
    let confirmed = NewFactor::Totp {
        device_id: "t".into(),
        step: 1000,
        offset_steps: -1,
        at: 30_000,
    };
    assert_eq!(
        confirm(&**s, first, confirmed).await,
        FactorConfirmation::Confirmed
    );
    s.insert_device(totp("unconfirmed", bob, 4, false))
        .await
        .unwrap();
    let mut security_key = key("k", first, b"credential-id");
    security_key.credential = Some(r#"{"cred":"json"}"#.into());
    assert!(add_key(&**s, security_key).await);
    assert!(
        s.record_security_key_use("k", r#"{"cred":"used"}"#.into(), 7, 40_000)
            .await
            .unwrap()
    );
    s.replace_recovery_codes(first, vec![[1; 32], [2; 32]])
        .await
        .unwrap();
    assert!(s.use_recovery_code(first, [2; 32], 50).await.unwrap());
    s.record_sign_in(first, 60).await.unwrap();
    s.append_event(event(10, Some("Alice"), "first"))
        .await
        .unwrap();
    s.append_event(event(5, None, "second")).await.unwrap();
    let seal: SealSeed = Box::new(|_: &str, seed: &[u8]| Ok(seed.to_vec()));
    assert!(s.adopt_key(b"sealed canary".to_vec(), seal).await.unwrap());
    // Authorization: a group with a member, a policy attached to it and to a user.
    assert!(s.put_group("ops").await.unwrap());
    assert_eq!(
        s.add_member("ops", "alice").await.unwrap(),
        AccessChange::Done
    );
    assert!(s.put_policy("grafana", POLICY, 70).await.unwrap());
    let to_ops = Attachment::Group("ops".into());
    let to_bob = Attachment::User("bob".into());
    for to in [&to_ops, &to_bob] {
        assert_eq!(
            s.attach_policy("grafana", to).await.unwrap(),
            AccessChange::Done
        );
    }
    // Programmatic access: a key, a role trusting a group and a user.
    let key = twofold::store::AccessKeyRecord {
        id: "TFAKAAAAAAAAAAAAAAAA".into(),
        user_id: first,
        secret_hash: [7; 32],
        active: true,
        created_at: 80,
        last_used_at: Some(90),
    };
    assert!(s.insert_access_key(key, 2).await.unwrap());
    let role = twofold::model::access::RoleRow {
        name: "auditor".into(),
        trusted_groups: vec!["ops".into()],
        trusted_users: vec!["bob".into()],
        policies: vec!["grafana".into()],
        max_duration_secs: 3600,
        updated_at: 95,
    };
    assert_eq!(s.put_role(role).await.unwrap(), Ok(true));
    // Sessions, pending logins, remembered browsers and temporary
    // credentials are not exported.
    let token = twofold::store::TemporaryCredentialRecord {
        id: "t".into(),
        token_hash: [9; 32],
        user_id: first,
        access_key_id: Some("TFAKAAAAAAAAAAAAAAAA".into()),
        role: None,
        mfa_method: None,
        mfa_at: None,
        created_at: 100,
        expires_at: 200,
    };
    assert_eq!(
        s.insert_temporary_credential(token, CAP).await.unwrap(),
        Ok(())
    );
    // OpenID Connect: a signing key, a subject and a consent move; codes
    // and tokens do not.
    assert!(
        s.insert_first_signing_key(signing_key("k1", "ES256", 10))
            .await
            .unwrap()
    );
    assert_eq!(
        s.subject_of(first, "subject-of-alice".into())
            .await
            .unwrap(),
        "subject-of-alice"
    );
    s.put_consent(first, "grafana", "openid profile", 80)
        .await
        .unwrap();
    s.insert_code(code(9, first, "family-a", 100), 20)
        .await
        .unwrap();
    // Sessions, pending logins and remembered browsers are not exported.
    s.insert_pending(pending(1, first, 100)).await.unwrap();
    s.insert_pending(pending(2, first, 100)).await.unwrap();
    assert!(
        s.promote_pending([2; 32], session(3, first, 100), CAP)
            .await
            .unwrap()
    );
    s.insert_remembered_browser(remembered(4, first, 100), CAP)
        .await
        .unwrap();
    s
}

#[tokio::test]
async fn an_export_holds_every_lasting_row_and_imports_into_an_empty_store_unchanged() {
    let from = populated_store().await;
    let records = exported(&**from).await;
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| match r {
            ExportRecord::User(_) => "user",
            ExportRecord::Device(_) => "device",
            ExportRecord::RecoveryCode(_) => "recovery_code",
            ExportRecord::AuditEvent(_) => "audit_event",
            ExportRecord::SealedCanary(_) => "sealed_canary",
            ExportRecord::SealedRecoveryKey(_) => "sealed_recovery_key",
            ExportRecord::Group(_) => "group",
            ExportRecord::Policy(_) => "policy",
            ExportRecord::GroupMember(_) => "group_member",
            ExportRecord::PolicyAttachment(_) => "policy_attachment",
            ExportRecord::AccessKey(_) => "access_key",
            ExportRecord::Role(_) => "role",
            ExportRecord::RolePolicy(_) => "role_policy",
            ExportRecord::RoleTrust(_) => "role_trust",
            ExportRecord::OidcSigningKey(_) => "oidc_signing_key",
            ExportRecord::OidcSubject(_) => "oidc_subject",
            ExportRecord::OidcConsent(_) => "oidc_consent",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "user",
            "user",
            "user",
            "device",
            "device",
            "device",
            "recovery_code",
            "recovery_code",
            "audit_event",
            "audit_event",
            "sealed_canary",
            "group",
            "policy",
            "group_member",
            "policy_attachment",
            "policy_attachment",
            "access_key",
            "role",
            "role_policy",
            "role_trust",
            "role_trust",
            "oidc_signing_key",
            "oidc_subject",
            "oidc_consent"
        ]
    );
    let to = store().await;
    assert_eq!(
        to.import_records(source_of(records.clone()), None)
            .await
            .unwrap(),
        ImportOutcome::Imported { records: 24 }
    );
    assert_eq!(exported(&**to).await, records, "the same rows come back");
    let (before, after) = (
        from.access_rows().await.unwrap(),
        to.access_rows().await.unwrap(),
    );
    assert_eq!(after.groups, before.groups);
    assert_eq!(after.policies, before.policies);
    assert_eq!(after.groups[0].members, ["Alice"]);
    assert_eq!(
        after.policies[0].attached_to,
        [
            Attachment::Group("ops".into()),
            Attachment::User("bob".into())
        ]
    );
    assert!(after.version > 0, "an import moves the access version");

    // What was imported works as it did.
    let alice = to.user_by_name("alice").await.unwrap().unwrap();
    let bob = to.user_by_name("BOB").await.unwrap().unwrap();
    assert_eq!(
        alice.id,
        from.user_by_name("alice").await.unwrap().unwrap().id
    );
    assert!(!to.accept_totp_step("t", 1000, 1, None).await.unwrap());
    assert!(to.accept_totp_step("t", 1001, 1, None).await.unwrap());
    assert!(!to.use_recovery_code(alice.id, [2; 32], 1).await.unwrap());
    assert!(to.use_recovery_code(alice.id, [1; 32], 1).await.unwrap());
    assert!(
        !to.record_security_key_use("k", "{}".into(), 7, 1)
            .await
            .unwrap(),
        "the key's counter came along"
    );
    assert!(
        !add_key(&**to, key("k2", bob.id, b"credential-id")).await,
        "the key's credential id is still taken"
    );
    assert_eq!(
        to.sealed_canary().await.unwrap().as_deref(),
        Some(&b"sealed canary"[..])
    );
    let events = to.events(None, 10).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(),
        ["first", "second"],
        "newest first is insertion order for equal rows, as before"
    );
    assert!(to.session([3; 32]).await.unwrap().is_none());
    assert!(to.pending([1; 32]).await.unwrap().is_none());
    assert!(to.remembered_browser([4; 32]).await.unwrap().is_none());
    assert_eq!(to.sessions_of(alice.id).await.unwrap().len(), 0);
    // New rows are numbered after the imported ones.
    let new = to.insert_user(new_user("carol", 200)).await.unwrap();
    assert!(new.id > bob.id, "{} after {}", new.id, bob.id);
    assert!(matches!(
        to.insert_user(new_user("ALICE", 200)).await,
        Err(StoreError::UsernameTaken)
    ));
}

#[tokio::test]
async fn the_sealed_recovery_key_of_a_rotated_store_moves_with_an_export() {
    // A rotated store keeps its recovery-code key sealed: without it the
    // codes hashed before the rotation would not verify on the new store.
    let from = populated_store().await;
    let mut records = exported(&**from).await;
    // Where an export has it: right after the canary.
    let canary = records
        .iter()
        .position(|r| matches!(r, ExportRecord::SealedCanary(_)))
        .unwrap();
    records.insert(
        canary + 1,
        ExportRecord::SealedRecoveryKey(ExportedCanary {
            sealed: b"sealed recovery key".to_vec(),
        }),
    );
    let rotated = store().await;
    rotated
        .import_records(source_of(records.clone()), None)
        .await
        .unwrap();
    assert_eq!(
        rotated.sealed_recovery_key().await.unwrap().as_deref(),
        Some(&b"sealed recovery key"[..])
    );
    let moved = exported(&**rotated).await;
    assert_eq!(moved, records, "the key comes out again");
    let to = store().await;
    to.import_records(source_of(moved), None).await.unwrap();
    assert_eq!(
        to.sealed_recovery_key().await.unwrap().as_deref(),
        Some(&b"sealed recovery key"[..])
    );
}

#[tokio::test]
async fn an_import_into_a_store_with_users_writes_nothing() {
    let records = exported(&**populated_store().await).await;
    let to = store().await;
    user(&**to, "already-here").await;
    let before = exported(&**to).await;
    assert_eq!(
        to.import_records(source_of(records), counted_event("imported"))
            .await
            .unwrap(),
        ImportOutcome::StoreHasUsers
    );
    assert_eq!(exported(&**to).await, before);
}

#[tokio::test]
async fn an_import_that_fails_part_way_writes_nothing() {
    let records = exported(&**populated_store().await).await;
    // A source that breaks after its users and devices (a damaged line).
    let to = store().await;
    let broken = records
        .clone()
        .into_iter()
        .take(6)
        .map(Ok)
        .chain(std::iter::once(Err(anyhow::anyhow!("line 8 is not JSON"))));
    let error = to
        .import_records(Box::new(broken), counted_event("imported"))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("line 8"), "{error}");
    assert!(to.user_by_name("alice").await.unwrap().is_none());
    assert_eq!(exported(&**to).await, []);

    // A row the database refuses (a device of a user not in the file).
    let mut orphan = records.clone();
    orphan.retain(|r| !matches!(r, ExportRecord::User(u) if u.username == "bob"));
    assert!(
        to.import_records(source_of(orphan), counted_event("imported"))
            .await
            .is_err()
    );
    assert_eq!(exported(&**to).await, []);

    // The same store then takes the whole file, and the import's event
    // with its count is written in the same transaction.
    assert!(matches!(
        to.import_records(source_of(records), counted_event("imported"))
            .await
            .unwrap(),
        ImportOutcome::Imported { records: 24 }
    ));
    assert_eq!(details_of(&**to, "imported").await, ["count=24"]);
}

/// A sink that signs a user up as soon as the export has begun.
struct WritesDuringExport {
    store: std::sync::Arc<dyn Store>,
    collected: Collected,
}

impl ExportSink for WritesDuringExport {
    fn begin(&mut self, source: &ExportSource) -> anyhow::Result<()> {
        let store = self.store.clone();
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(store.insert_user(new_user("late", 300)))
        })?;
        self.collected.begin(source)
    }

    fn record(&mut self, record: ExportRecord) -> anyhow::Result<()> {
        self.collected.record(record)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_reads_one_snapshot_while_the_store_is_written() {
    let s = populated_store().await;
    let mut sink = WritesDuringExport {
        store: s.store.clone(),
        collected: Collected::default(),
    };
    s.export_records(&mut sink).await.unwrap();
    let users: Vec<_> = sink
        .collected
        .records
        .iter()
        .filter_map(|r| match r {
            ExportRecord::User(u) => Some(u.username.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(users, ["Alice", "gone", "bob"]);
    assert!(s.user_by_name("late").await.unwrap().is_some());
}

// ---- authorization: groups, policies, attachments ----

const POLICY: &str = r#"{"Version": "2026-12-01", "Statement": [{"Effect": "Allow", "Action": "http:GET", "Resource": "*"}]}"#;

/// The access version before and after `change`, which must move it by one.
async fn moves_version<T>(s: &dyn Store, change: impl std::future::Future<Output = T>) -> T {
    let before = s.access_version().await.unwrap();
    let answer = change.await;
    assert_eq!(
        s.access_version().await.unwrap(),
        before + 1,
        "the version moved once"
    );
    answer
}

/// `change` must leave the access version where it was.
async fn keeps_version<T>(s: &dyn Store, change: impl std::future::Future<Output = T>) -> T {
    let before = s.access_version().await.unwrap();
    let answer = change.await;
    assert_eq!(s.access_version().await.unwrap(), before, "nothing changed");
    answer
}

#[tokio::test]
async fn groups_are_created_once_listed_by_name_and_deleted() {
    let s = store().await;
    assert_eq!(s.access_rows().await.unwrap(), AccessRows::default());
    assert!(moves_version(&**s, s.put_group("ops")).await.unwrap());
    assert!(!keeps_version(&**s, s.put_group("ops")).await.unwrap());
    assert!(
        moves_version(&**s, s.put_group("Ops")).await.unwrap(),
        "names are case-sensitive"
    );
    assert!(moves_version(&**s, s.put_group("devs")).await.unwrap());
    let rows = s.access_rows().await.unwrap();
    let names: Vec<_> = rows.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["Ops", "devs", "ops"]);
    assert_eq!(rows.version, s.access_version().await.unwrap());
    assert!(moves_version(&**s, s.delete_group("Ops")).await.unwrap());
    assert!(!keeps_version(&**s, s.delete_group("Ops")).await.unwrap());
    let names: Vec<_> = s
        .access_rows()
        .await
        .unwrap()
        .groups
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(names, ["devs", "ops"]);
}

#[tokio::test]
async fn members_are_added_once_by_name_in_any_case_and_removed() {
    let s = store().await;
    user(&**s, "Alice").await;
    user(&**s, "bob").await;
    s.put_group("ops").await.unwrap();
    assert_eq!(
        moves_version(&**s, s.add_member("ops", "alice"))
            .await
            .unwrap(),
        AccessChange::Done
    );
    assert_eq!(
        keeps_version(&**s, s.add_member("ops", "ALICE"))
            .await
            .unwrap(),
        AccessChange::Done
    );
    assert_eq!(
        moves_version(&**s, s.add_member("ops", "bob"))
            .await
            .unwrap(),
        AccessChange::Done
    );
    assert_eq!(
        keeps_version(&**s, s.add_member("nope", "bob"))
            .await
            .unwrap(),
        AccessChange::NoSuchGroup
    );
    assert_eq!(
        keeps_version(&**s, s.add_member("ops", "carol"))
            .await
            .unwrap(),
        AccessChange::NoSuchUser
    );
    let group = &s.access_rows().await.unwrap().groups[0];
    assert_eq!(group.members, ["Alice", "bob"], "stored names, sorted");
    assert_eq!(
        moves_version(&**s, s.remove_member("ops", "Alice"))
            .await
            .unwrap(),
        AccessChange::Done
    );
    assert_eq!(
        keeps_version(&**s, s.remove_member("ops", "Alice"))
            .await
            .unwrap(),
        AccessChange::Done
    );
    assert_eq!(
        s.remove_member("nope", "bob").await.unwrap(),
        AccessChange::NoSuchGroup
    );
    assert_eq!(
        s.remove_member("ops", "carol").await.unwrap(),
        AccessChange::NoSuchUser
    );
    assert_eq!(s.access_rows().await.unwrap().groups[0].members, ["bob"]);
}

#[tokio::test]
async fn policies_are_created_replaced_as_given_and_deleted() {
    let s = store().await;
    assert!(
        moves_version(&**s, s.put_policy("read", POLICY, 10))
            .await
            .unwrap()
    );
    let replaced = r#"{"Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}"#;
    assert!(
        !moves_version(&**s, s.put_policy("read", replaced, 20))
            .await
            .unwrap()
    );
    assert!(
        moves_version(&**s, s.put_policy("Read", POLICY, 30))
            .await
            .unwrap()
    );
    let rows = s.access_rows().await.unwrap();
    let read = rows.policies.iter().find(|p| p.name == "read").unwrap();
    assert_eq!(read.document, replaced, "the document exactly as given");
    assert_eq!(read.updated_at, 20);
    assert!(read.attached_to.is_empty());
    assert_eq!(
        rows.policies
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["Read", "read"]
    );
    assert!(moves_version(&**s, s.delete_policy("Read")).await.unwrap());
    assert!(!keeps_version(&**s, s.delete_policy("Read")).await.unwrap());
    assert_eq!(s.access_rows().await.unwrap().policies.len(), 1);
}

#[tokio::test]
async fn policies_attach_to_groups_and_users_once_and_detach() {
    let s = store().await;
    user(&**s, "Alice").await;
    s.put_group("ops").await.unwrap();
    s.put_policy("read", POLICY, 1).await.unwrap();
    s.put_policy("write", POLICY, 1).await.unwrap();
    let ops = Attachment::Group("ops".into());
    let alice = Attachment::User("alice".into());
    assert_eq!(
        moves_version(&**s, s.attach_policy("read", &ops))
            .await
            .unwrap(),
        AccessChange::Done
    );
    assert_eq!(
        keeps_version(&**s, s.attach_policy("read", &ops))
            .await
            .unwrap(),
        AccessChange::Done
    );
    assert_eq!(
        moves_version(&**s, s.attach_policy("write", &ops))
            .await
            .unwrap(),
        AccessChange::Done
    );
    assert_eq!(
        moves_version(&**s, s.attach_policy("read", &alice))
            .await
            .unwrap(),
        AccessChange::Done
    );
    assert_eq!(
        keeps_version(&**s, s.attach_policy("nope", &ops))
            .await
            .unwrap(),
        AccessChange::NoSuchPolicy
    );
    let nobody = Attachment::User("nobody".into());
    assert_eq!(
        keeps_version(&**s, s.attach_policy("read", &nobody))
            .await
            .unwrap(),
        AccessChange::NoSuchUser
    );
    let no_group = Attachment::Group("nope".into());
    assert_eq!(
        keeps_version(&**s, s.attach_policy("read", &no_group))
            .await
            .unwrap(),
        AccessChange::NoSuchGroup
    );
    let rows = s.access_rows().await.unwrap();
    assert_eq!(rows.groups[0].policies, ["read", "write"]);
    assert_eq!(
        rows.policies[0].attached_to,
        [
            Attachment::Group("ops".into()),
            Attachment::User("Alice".into())
        ],
        "a user by their stored name"
    );
    assert_eq!(
        moves_version(&**s, s.detach_policy("read", &ops))
            .await
            .unwrap(),
        AccessChange::Done
    );
    assert_eq!(
        keeps_version(&**s, s.detach_policy("read", &ops))
            .await
            .unwrap(),
        AccessChange::Done
    );
    assert_eq!(
        s.detach_policy("nope", &ops).await.unwrap(),
        AccessChange::NoSuchPolicy
    );
    assert_eq!(
        s.detach_policy("read", &nobody).await.unwrap(),
        AccessChange::NoSuchUser
    );
    assert_eq!(
        s.detach_policy("read", &no_group).await.unwrap(),
        AccessChange::NoSuchGroup
    );
    let rows = s.access_rows().await.unwrap();
    assert_eq!(rows.groups[0].policies, ["write"]);
    assert_eq!(
        rows.policies[0].attached_to,
        [Attachment::User("Alice".into())]
    );
}

#[tokio::test]
async fn deleting_a_group_or_a_policy_detaches_it_everywhere() {
    let s = store().await;
    user(&**s, "alice").await;
    s.put_group("ops").await.unwrap();
    s.add_member("ops", "alice").await.unwrap();
    s.put_policy("read", POLICY, 1).await.unwrap();
    s.put_policy("write", POLICY, 1).await.unwrap();
    let ops = Attachment::Group("ops".into());
    let alice = Attachment::User("alice".into());
    s.attach_policy("read", &ops).await.unwrap();
    s.attach_policy("read", &alice).await.unwrap();
    s.attach_policy("write", &ops).await.unwrap();
    assert!(s.delete_policy("read").await.unwrap());
    let rows = s.access_rows().await.unwrap();
    assert_eq!(rows.groups[0].policies, ["write"]);
    assert_eq!(rows.policies.len(), 1);
    assert!(s.delete_group("ops").await.unwrap());
    let rows = s.access_rows().await.unwrap();
    assert!(rows.groups.is_empty());
    assert!(
        rows.policies[0].attached_to.is_empty(),
        "detached from the deleted group"
    );
    // A group made again under the name starts empty.
    s.put_group("ops").await.unwrap();
    let rows = s.access_rows().await.unwrap();
    assert!(rows.groups[0].members.is_empty() && rows.groups[0].policies.is_empty());
}

#[tokio::test]
async fn a_target_holds_at_most_ten_policies_and_a_refusal_writes_nothing() {
    let s = store().await;
    user(&**s, "alice").await;
    s.put_group("ops").await.unwrap();
    for to in [
        Attachment::Group("ops".into()),
        Attachment::User("alice".into()),
    ] {
        for i in 0..MAX_POLICIES_PER_TARGET + 1 {
            s.put_policy(&format!("p{i}"), POLICY, 1).await.unwrap();
        }
        for i in 0..MAX_POLICIES_PER_TARGET {
            s.attach_policy(&format!("p{i}"), &to).await.unwrap();
        }
        let extra = format!("p{MAX_POLICIES_PER_TARGET}");
        let refused = keeps_version(&**s, s.attach_policy(&extra, &to)).await;
        assert!(
            matches!(
                refused,
                Err(StoreError::AccessLimit(AccessLimit::PoliciesPerTarget))
            ),
            "{refused:?}"
        );
        // Attaching one already attached is still fine at the limit.
        assert_eq!(
            s.attach_policy("p0", &to).await.unwrap(),
            AccessChange::Done
        );
    }
    let rows = s.access_rows().await.unwrap();
    assert_eq!(rows.groups[0].policies.len(), MAX_POLICIES_PER_TARGET);
    let on_alice = rows
        .policies
        .iter()
        .filter(|p| p.attached_to.contains(&Attachment::User("alice".into())))
        .count();
    assert_eq!(on_alice, MAX_POLICIES_PER_TARGET);
}

#[tokio::test]
async fn the_store_holds_at_most_a_thousand_groups_and_policies() {
    let s = store().await;
    // Made in parallel: the bound holds however the writes interleave.
    let tasks: Vec<_> = (0..MAX_GROUPS + 5)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                let group = s.put_group(&format!("g{i}")).await;
                let policy = s.put_policy(&format!("p{i}"), POLICY, 1).await;
                (group, policy)
            })
        })
        .collect();
    let (mut groups, mut policies) = (0, 0);
    for task in tasks {
        let (group, policy) = task.await.unwrap();
        match group {
            Ok(true) => groups += 1,
            Err(StoreError::AccessLimit(AccessLimit::Groups)) => {}
            other => panic!("{other:?}"),
        }
        match policy {
            Ok(true) => policies += 1,
            Err(StoreError::AccessLimit(AccessLimit::Policies)) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((groups, policies), (MAX_GROUPS, MAX_POLICIES));
    let rows = s.access_rows().await.unwrap();
    assert_eq!(
        (rows.groups.len(), rows.policies.len()),
        (MAX_GROUPS, MAX_POLICIES)
    );
    // Replacing a policy at the bound is not a new one.
    assert!(!s.put_policy("p0", POLICY, 2).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_attaches_and_a_delete_leave_no_dangling_attachment() {
    let s = store().await;
    user(&**s, "alice").await;
    s.put_group("ops").await.unwrap();
    for round in 0..5 {
        let policy = format!("p{round}");
        s.put_policy(&policy, POLICY, 1).await.unwrap();
        let start = s.access_version().await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..6 {
            let (s, policy) = (s.clone(), policy.clone());
            tasks.push(tokio::spawn(async move {
                let to = if i % 2 == 0 {
                    Attachment::Group("ops".into())
                } else {
                    Attachment::User("alice".into())
                };
                let answer = s.attach_policy(&policy, &to).await.unwrap();
                assert!(matches!(
                    answer,
                    AccessChange::Done | AccessChange::NoSuchPolicy
                ));
            }));
        }
        let deleter = {
            let (s, policy) = (s.clone(), policy.clone());
            tokio::spawn(async move { s.delete_policy(&policy).await.unwrap() })
        };
        for task in tasks {
            task.await.unwrap();
        }
        assert!(deleter.await.unwrap());
        let rows = s.access_rows().await.unwrap();
        assert!(rows.policies.iter().all(|p| p.name != policy));
        assert!(
            rows.groups[0].policies.iter().all(|p| *p != policy),
            "no attachment outlives its policy"
        );
        // The delete and at most one attach per target moved the version.
        let moved = rows.version - start;
        assert!((1..=3).contains(&moved), "moved {moved}");
    }
    // The same races on a group being deleted.
    s.put_policy("keep", POLICY, 1).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let to = Attachment::Group("ops".into());
            let answer = s.attach_policy("keep", &to).await.unwrap();
            assert!(matches!(
                answer,
                AccessChange::Done | AccessChange::NoSuchGroup
            ));
            let member = s.add_member("ops", "alice").await.unwrap();
            assert!(matches!(
                member,
                AccessChange::Done | AccessChange::NoSuchGroup
            ));
        }));
    }
    let deleted = s.delete_group("ops").await.unwrap();
    for task in tasks {
        task.await.unwrap();
    }
    assert!(deleted);
    let rows = s.access_rows().await.unwrap();
    assert!(rows.groups.is_empty());
    assert!(rows.policies.iter().all(|p| p.attached_to.is_empty()));
}

// OpenID Connect: keys, subjects, consents, codes and token families.

fn signing_key(kid: &str, alg: &str, at: Timestamp) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.into(),
        alg: alg.into(),
        sealed: format!("sealed {kid}").into_bytes(),
        created_at: at,
        retired_at: None,
    }
}

fn code(n: u8, user: UserId, family: &str, expires_at: Timestamp) -> CodeRecord {
    CodeRecord {
        code_hash: [n; 32],
        family: family.into(),
        client_id: "grafana".into(),
        user_id: user,
        redirect_uri: "https://grafana.example.com/login/generic_oauth".into(),
        scope: "openid offline_access".into(),
        nonce: Some("n".into()),
        code_challenge: None,
        auth_time: 1,
        method: "totp".into(),
        created_at: expires_at - 60,
        expires_at,
    }
}

fn oidc_token(n: u8, kind: OidcTokenKind, user: UserId, family: &str) -> OidcTokenRecord {
    OidcTokenRecord {
        token_hash: [n; 32],
        kind,
        family: family.into(),
        client_id: "grafana".into(),
        user_id: user,
        scope: "openid offline_access".into(),
        auth_time: 1,
        method: "totp".into(),
        created_at: 100,
        expires_at: 10_000,
        used_at: None,
    }
}

/// Issues an access and a refresh token (numbered `n`, `n + 1`) from what
/// is redeemed.
fn issue_pair(n: u8) -> IssueFromCode {
    Box::new(move |code: &CodeRecord| {
        Some(vec![
            oidc_token(n, OidcTokenKind::Access, code.user_id, &code.family),
            oidc_token(n + 1, OidcTokenKind::Refresh, code.user_id, &code.family),
        ])
    })
}

#[tokio::test]
async fn the_first_signing_key_of_each_algorithm_wins_and_a_rotation_retires_it() {
    let s = store().await;
    assert!(
        s.insert_first_signing_key(signing_key("a", "ES256", 10))
            .await
            .unwrap()
    );
    assert!(
        !s.insert_first_signing_key(signing_key("b", "ES256", 11))
            .await
            .unwrap()
    );
    assert!(
        s.insert_first_signing_key(signing_key("r", "RS256", 10))
            .await
            .unwrap()
    );
    s.rotate_signing_key(signing_key("c", "ES256", 50))
        .await
        .unwrap();
    let keys = s.signing_keys().await.unwrap();
    let of = |kid: &str| keys.iter().find(|k| k.kid == kid).cloned();
    assert_eq!(of("a").unwrap().retired_at, Some(50));
    assert_eq!(of("c").unwrap().retired_at, None);
    assert!(of("b").is_none());
    assert_eq!(of("r").unwrap().retired_at, None);
    // Retired long enough: swept; the current ones stay.
    s.delete_expired_oidc(1_000, 60).await.unwrap();
    let kids: Vec<String> = s
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert!(!kids.contains(&"a".to_owned()));
    assert!(kids.contains(&"c".to_owned()) && kids.contains(&"r".to_owned()));
}

#[tokio::test]
async fn a_subject_is_made_once_and_stays() {
    let s = store().await;
    let alice = user(&**s, "alice").await;
    assert_eq!(s.subject_of(alice, "one".into()).await.unwrap(), "one");
    assert_eq!(s.subject_of(alice, "two".into()).await.unwrap(), "one");
}

#[tokio::test]
async fn a_code_is_spent_once_even_when_raced_and_a_replay_revokes_its_family() {
    let s = store().await;
    let alice = user(&**s, "alice").await;
    s.insert_code(code(1, alice, "fam", 1_000), 20)
        .await
        .unwrap();
    let racers = (0..8u8).map(|i| {
        let s = s.store.clone();
        tokio::spawn(async move {
            matches!(
                s.redeem_code([1; 32], 950, issue_pair(10 + 2 * i))
                    .await
                    .unwrap(),
                Redemption::Issued(_)
            )
        })
    });
    assert_eq!(futures_count(racers).await, 1, "one redemption issues");
    // Every loser was a replay: the family is gone.
    for n in 10..26u8 {
        assert!(s.oidc_token([n; 32], 950).await.unwrap().is_none());
    }
    // An expired code is unknown; a refused check still spends it.
    s.insert_code(code(2, alice, "fam2", 1_000), 20)
        .await
        .unwrap();
    assert!(matches!(
        s.redeem_code([2; 32], 1_000, issue_pair(40)).await.unwrap(),
        Redemption::Unknown
    ));
    s.insert_code(code(3, alice, "fam3", 1_000), 20)
        .await
        .unwrap();
    assert!(matches!(
        s.redeem_code([3; 32], 950, Box::new(|_| None))
            .await
            .unwrap(),
        Redemption::Refused(_)
    ));
    assert!(matches!(
        s.redeem_code([3; 32], 950, issue_pair(50)).await.unwrap(),
        Redemption::Replayed(_)
    ));
    assert!(s.oidc_token([50; 32], 950).await.unwrap().is_none());
}

#[tokio::test]
async fn a_refresh_token_rotates_once_and_its_replay_revokes_the_family() {
    let s = store().await;
    let alice = user(&**s, "alice").await;
    s.insert_code(code(1, alice, "fam", 1_000), 20)
        .await
        .unwrap();
    assert!(matches!(
        s.redeem_code([1; 32], 950, issue_pair(10)).await.unwrap(),
        Redemption::Issued(_)
    ));
    let rotate = |n: u8| -> IssueFromRefresh {
        Box::new(move |old: &OidcTokenRecord| {
            Some(vec![
                oidc_token(n, OidcTokenKind::Access, old.user_id, &old.family),
                oidc_token(n + 1, OidcTokenKind::Refresh, old.user_id, &old.family),
            ])
        })
    };
    assert!(matches!(
        s.redeem_refresh_token([11; 32], 960, rotate(20))
            .await
            .unwrap(),
        Redemption::Issued(_)
    ));
    let new = s.oidc_token([21; 32], 960).await.unwrap().unwrap();
    assert_eq!(new.kind, OidcTokenKind::Refresh);
    assert!(new.used_at.is_none());
    // An access token is not a refresh token.
    assert!(matches!(
        s.redeem_refresh_token([10; 32], 960, rotate(30))
            .await
            .unwrap(),
        Redemption::Unknown
    ));
    // The old refresh token again: the whole family goes.
    assert!(matches!(
        s.redeem_refresh_token([11; 32], 970, rotate(40))
            .await
            .unwrap(),
        Redemption::Replayed(_)
    ));
    for n in [10u8, 11, 20, 21, 40, 41] {
        assert!(s.oidc_token([n; 32], 970).await.unwrap().is_none(), "{n}");
    }
}

#[tokio::test]
async fn a_users_codes_are_bounded_and_expired_codes_and_tokens_are_swept() {
    let s = store().await;
    let alice = user(&**s, "alice").await;
    for n in 1..=5u8 {
        s.insert_code(code(n, alice, &format!("f{n}"), 1_000 + i64::from(n)), 3)
            .await
            .unwrap();
    }
    // The two oldest were dropped.
    for (n, kept) in [(1u8, false), (2, false), (3, true), (5, true)] {
        let found = !matches!(
            s.redeem_code([n; 32], 900, Box::new(|_| Some(vec![])))
                .await
                .unwrap(),
            Redemption::Unknown
        );
        assert_eq!(found, kept, "code {n}");
    }
    s.insert_code(code(9, alice, "f9", 2_000), 3).await.unwrap();
    assert!(matches!(
        s.redeem_code([9; 32], 900, issue_pair(60)).await.unwrap(),
        Redemption::Issued(_)
    ));
    // Long after everything expired: nothing is left to find.
    s.delete_expired_oidc(100_000, 0).await.unwrap();
    assert!(s.oidc_token([60; 32], 0).await.unwrap().is_none());
    assert!(matches!(
        s.redeem_code([9; 32], 0, issue_pair(70)).await.unwrap(),
        Redemption::Unknown
    ));
}

#[tokio::test]
async fn a_rotation_of_the_secrets_key_reseals_the_signing_keys() {
    let s = store().await;
    let keep: SealSeed = Box::new(|_: &str, seed: &[u8]| Ok(seed.to_vec()));
    assert!(s.adopt_key(b"c0".to_vec(), keep).await.unwrap());
    s.insert_first_signing_key(signing_key("k", "ES256", 10))
        .await
        .unwrap();
    s.reseal_all(tagging_reseal(None), None).await.unwrap();
    let keys = s.signing_keys().await.unwrap();
    assert_eq!(keys[0].sealed, b"signing key k:sealed k");
}

#[tokio::test]
async fn a_user_keeps_a_bounded_number_of_sign_ins_with_one_client() {
    let s = store().await;
    let alice = user(&**s, "alice").await;
    let bound = MAX_FAMILIES_PER_USER_AND_CLIENT as usize;
    for i in 0..=bound {
        let n = u8::try_from(i).unwrap();
        s.insert_code(code(n, alice, &format!("f{i:03}"), 1_000), 200)
            .await
            .unwrap();
        let issue: IssueFromCode = Box::new(move |code: &CodeRecord| {
            let mut token = oidc_token(n, OidcTokenKind::Access, code.user_id, &code.family);
            token.token_hash = [n; 32];
            token.token_hash[31] = 0xAA;
            token.created_at = 100 + i64::from(n);
            Some(vec![token])
        });
        assert!(matches!(
            s.redeem_code([n; 32], 900, issue).await.unwrap(),
            Redemption::Issued(_)
        ));
    }
    let live = |n: u8| {
        let mut hash = [n; 32];
        hash[31] = 0xAA;
        hash
    };
    assert!(
        s.oidc_token(live(0), 900).await.unwrap().is_none(),
        "the oldest sign-in ended"
    );
    for n in 1..=u8::try_from(bound).unwrap() {
        assert!(s.oidc_token(live(n), 900).await.unwrap().is_some(), "{n}");
    }
}
