//! Guessing stopped: failure counters per (account, client IP), per account,
//! per client IP and per TOTP device, as pure rules of the stored counter and
//! `now`. An attempt is charged *before* it is checked, so parallel requests
//! can't slip past a limit, and refunded when it turns out right.

use std::net::IpAddr;

use super::attempts_in_flight::InFlight;
use super::audit::AuditEvent;
use super::clock::{Timestamp, iso8601};
use super::session::Token;
use super::users::MAX_USERNAME_CHARS;
use super::{Auth, AuthError, AuthResult, Client};
use crate::config::ThrottleSettings;
pub use crate::model::throttle::{Charge, Charged, Counter, Rule};
use crate::store::{DeviceRecord, KnownClientRenewal, UserId, UserRecord};

/// The longest an attempt waits for others on its counters to be judged
/// (each is one password hash or code check, queued behind at most a few).
const MAX_WAIT_FOR_JUDGED: std::time::Duration = std::time::Duration::from_secs(10);

/// The attempts charged before checking; refunded when the answer is right.
/// Until it is dropped, its attempt shows as being judged.
#[derive(Debug, Default)]
pub struct Ticket {
    pub charges: Vec<Charge>,
    pub charged_at: Timestamp,
    /// Held for its drop: the attempt is judged when the ticket goes.
    _in_flight: Option<InFlight>,
}

/// The rules from the settings.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub account_ip: Rule,
    pub account: Rule,
    pub ip: Rule,
    pub totp_device: Rule,
}

impl Rules {
    pub fn from_settings(t: &ThrottleSettings) -> Self {
        let rule = |max_failures, window_secs, max_lockout_secs| Rule {
            max_failures,
            window_secs,
            lockout_secs: t.lockout_secs,
            max_lockout_secs,
        };
        Self {
            account_ip: rule(
                t.account_ip_max_failures,
                t.account_ip_window_secs,
                t.max_lockout_secs,
            ),
            account: rule(
                t.account_max_failures,
                t.account_window_secs,
                t.max_lockout_secs,
            ),
            ip: rule(t.ip_max_failures, t.ip_window_secs, t.max_lockout_secs),
            totp_device: rule(
                t.totp_max_failures,
                t.totp_window_secs,
                t.totp_max_lockout_secs,
            ),
        }
    }
}

/// The address a client is counted under: IPv4 as is, IPv6 by its /64
/// (one subscriber usually holds a whole /64).
pub fn ip_bucket(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => ip.to_owned(),
    }
}

/// The account part of a key: the name as typed, case-folded and cut (no
/// longer username can exist), so an unknown name is counted exactly like a
/// real one and a key stays small whatever a client types.
fn account_key(username: &str) -> String {
    username
        .chars()
        .take(MAX_USERNAME_CHARS)
        .collect::<String>()
        .to_ascii_lowercase()
}

/// The counters one password attempt is charged to.
pub fn password_charges(
    rules: &Rules,
    username: &str,
    ip: Option<&str>,
    known_client: bool,
) -> Vec<Charge> {
    let account = account_key(username);
    let ip = ip.map(ip_bucket);
    let charge = |key: String, rule: Rule| Charge {
        key,
        rule,
        set_lock: 0,
    };
    let mut charges = vec![charge(
        format!(
            "password:account_ip:{account}|{}",
            ip.as_deref().unwrap_or("")
        ),
        rules.account_ip,
    )];
    if !known_client {
        charges.push(charge(format!("password:account:{account}"), rules.account));
    }
    if let Some(ip) = ip {
        charges.push(charge(format!("password:ip:{ip}"), rules.ip));
    }
    charges
}

/// The counter of one TOTP device.
pub fn totp_device_key(device_id: &str) -> String {
    format!("totp:device:{device_id}")
}

/// Which limit a key belongs to, for the audit trail (`password_account_ip`,
/// `password_account`, `password_ip`, `totp_device`).
pub fn rule_name(key: &str) -> String {
    key.splitn(3, ':').take(2).collect::<Vec<_>>().join("_")
}

impl Auth {
    pub(crate) fn throttle_rules(&self) -> Rules {
        Rules::from_settings(&self.settings.throttle)
    }

    /// Charges `charges` before an answer is checked; refuses with
    /// `TooManyAttempts` (and an audit event) when a limit is reached. A
    /// limit reached only with attempts still being judged is not a refusal
    /// yet: this attempt waits for them (at most `MAX_WAIT_FOR_JUDGED`), so
    /// parallel right answers don't lock each other out.
    pub(crate) async fn charge_attempt(
        &self,
        charges: Vec<Charge>,
        username: &str,
        client: &Client,
    ) -> AuthResult<Ticket> {
        if !self.settings.throttle.enabled || charges.is_empty() {
            return Ok(Ticket::default());
        }
        let give_up_at = Self::judging_deadline();
        loop {
            let judged = self.in_flight.judged.notified();
            tokio::pin!(judged);
            judged.as_mut().enable();
            let now = self.clock.now();
            let admission = self.in_flight.admission.lock().await;
            let (retry_after_secs, key) =
                match self.store.charge_attempt(charges.clone(), now).await? {
                    Charged::Charged(charges) => {
                        let keys = charges.iter().map(|c| c.key.clone()).collect();
                        return Ok(Ticket {
                            charges,
                            charged_at: now,
                            _in_flight: Some(self.in_flight.enter(keys)),
                        });
                    }
                    Charged::Locked {
                        retry_after_secs,
                        key,
                    } => (retry_after_secs, key),
                };
            drop(admission);
            if self.judged_meanwhile(&key, judged, give_up_at).await {
                continue;
            }
            return Err(self
                .refuse_throttled(&key, retry_after_secs, now, username, client)
                .await);
        }
    }

    /// The longest an attempt refused by a lock waits for the attempts on
    /// it that are being judged.
    pub(crate) fn judging_deadline() -> tokio::time::Instant {
        tokio::time::Instant::now() + MAX_WAIT_FOR_JUDGED
    }

    /// After a refusal by the lock on `key`: whether attempts on it were being
    /// judged and one of them was (before `give_up_at`), so the refused
    /// attempt asks again. `judged` was enabled before the refusal was read.
    pub(crate) async fn judged_meanwhile(
        &self,
        key: &str,
        judged: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>,
        give_up_at: tokio::time::Instant,
    ) -> bool {
        self.in_flight.holds(key) && tokio::time::timeout_at(give_up_at, judged).await.is_ok()
    }

    /// Refuses an attempt a lock on `key` stops: counted in the metrics and
    /// on one audit row per key and lockout.
    pub(crate) async fn refuse_throttled(
        &self,
        key: &str,
        retry_after_secs: i64,
        now: Timestamp,
        username: &str,
        client: &Client,
    ) -> AuthError {
        self.metrics.throttled(&rule_name(key));
        let locked_until = now + retry_after_secs;
        let detail = format!("rule={} until={}", rule_name(key), iso8601(locked_until));
        let merge_key = format!("throttled|{key}|{locked_until}");
        self.audit_anonymous(
            AuditEvent::LoginThrottled,
            Some(username),
            client,
            &detail,
            Some(merge_key),
        )
        .await;
        AuthError::TooManyAttempts { retry_after_secs }
    }

    /// The answer was right: takes the ticket's charges back. `reset` names
    /// counters to clear entirely (the password from this very client).
    pub(crate) async fn refund_attempt(&self, ticket: Ticket, reset: Option<&str>) {
        if ticket.charges.is_empty() {
            return;
        }
        if let Err(e) = self
            .store
            .refund_attempt(ticket.charges, ticket.charged_at, reset.map(str::to_owned))
            .await
        {
            tracing::error!(error = %e, "could not refund a throttle charge");
        }
    }

    /// Charges one password attempt for `username` (as typed) from `client`.
    pub(crate) async fn charge_password_attempt(
        &self,
        username: &str,
        user: Option<&UserRecord>,
        client: &Client,
    ) -> AuthResult<Ticket> {
        let known = match user {
            Some(user) => self.is_known_client(user.id, client).await?,
            None => false,
        };
        let charges = password_charges(
            &self.throttle_rules(),
            username,
            client.ip.as_deref(),
            known,
        );
        let name = user.map_or(username, |u| u.username.as_str());
        self.charge_attempt(charges, name, client).await
    }

    /// The right password: the (account, IP) counter is cleared, the others
    /// refunded.
    pub(crate) async fn password_was_right(&self, ticket: Ticket) {
        let reset = ticket
            .charges
            .first()
            .filter(|c| c.key.starts_with("password:account_ip:"))
            .map(|c| c.key.clone());
        self.refund_attempt(ticket, reset.as_deref()).await;
    }

    /// The per-device counters of the confirmed TOTP devices among `devices`.
    pub(crate) fn totp_device_charges(&self, devices: &[DeviceRecord]) -> Vec<Charge> {
        let rule = self.throttle_rules().totp_device;
        devices
            .iter()
            .filter(|d| d.confirmed && d.kind == crate::store::DeviceKind::Totp)
            .map(|d| Charge {
                key: totp_device_key(&d.id),
                rule,
                set_lock: 0,
            })
            .collect()
    }

    /// Whether the client's known-client cookie was given to this user after
    /// both factors, and has not expired.
    pub(crate) async fn is_known_client(&self, user: UserId, client: &Client) -> AuthResult<bool> {
        match &client.known_client {
            Some(token) => Ok(self
                .store
                .is_known_client(token.hash(), user, self.clock.now())
                .await?),
            None => Ok(false),
        }
    }

    /// When a client made known (or seen again) at `now` stops being known.
    fn known_client_expiry(&self, now: Timestamp) -> Timestamp {
        now + self.settings.throttle.known_client_days * 24 * 60 * 60
    }

    /// What `remember_client` writes, for a caller that writes it in its own
    /// transaction: the new token (the cookie to set, if the store stored it).
    pub(crate) fn known_client_renewal(&self, client: &Client) -> (Token, KnownClientRenewal) {
        let token = Token::generate();
        let renewal = KnownClientRenewal {
            current: client.known_client.as_ref().map(Token::hash),
            new: token.hash(),
            expires_at: self.known_client_expiry(self.clock.now()),
        };
        (token, renewal)
    }

    /// After both factors: the client is known to this user from now on. A
    /// new token when it held none for this user (the cookie to set).
    pub(crate) async fn remember_client(
        &self,
        user: UserId,
        client: &Client,
    ) -> AuthResult<Option<Token>> {
        let now = self.clock.now();
        let expires_at = self.known_client_expiry(now);
        if let Some(token) = &client.known_client
            && self
                .store
                .extend_known_client(token.hash(), user, now, expires_at)
                .await?
        {
            return Ok(None);
        }
        let token = Token::generate();
        self.store
            .insert_known_client(token.hash(), user, now, expires_at)
            .await?;
        Ok(Some(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: Rule = Rule {
        max_failures: 5,
        window_secs: 600,
        lockout_secs: 60,
        max_lockout_secs: 900,
    };

    fn charged(times: &[Timestamp]) -> Option<Counter> {
        times
            .iter()
            .fold(None, |counter, now| Some(RULE.charge(counter, *now)))
    }

    #[test]
    fn four_failures_leave_the_door_open_and_the_fifth_locks_it() {
        let four = charged(&[0, 1, 2, 3]);
        assert_eq!(RULE.wait(four, 4), None);
        let five = charged(&[0, 1, 2, 3, 4]);
        assert_eq!(RULE.wait(five, 4), Some(60));
        assert_eq!(RULE.wait(five, 34), Some(30));
        assert_eq!(RULE.wait(five, 64), None);
    }

    #[test]
    fn the_wait_doubles_per_further_failure_and_is_capped() {
        let waits: Vec<i64> = (5..=11).map(|f| RULE.lockout_after(f)).collect();
        assert_eq!(waits, vec![60, 120, 240, 480, 900, 900, 900]);
        assert_eq!(RULE.lockout_after(u32::MAX), 900);
        // Failing again right after each lockout keeps doubling.
        let mut counter = charged(&[0, 1, 2, 3, 4]);
        let mut now = 4;
        for expected in [120, 240, 480, 900, 900] {
            now += RULE.wait(counter, now).unwrap();
            counter = Some(RULE.charge(counter, now));
            assert_eq!(RULE.wait(counter, now), Some(expected));
        }
    }

    #[test]
    fn failures_spread_wider_than_the_window_never_lock() {
        let spread = charged(&[0, 200, 400, 601, 800, 1000, 1202]);
        assert_eq!(RULE.wait(spread, 1202), None);
        assert!(spread.unwrap().failures < 5);
    }

    #[test]
    fn a_lockout_is_forgotten_a_window_after_it_ends() {
        let five = charged(&[0, 1, 2, 3, 4]).unwrap();
        assert_eq!(RULE.forget_at(&five), 64 + 600);
        let later = RULE.charge(Some(five), 64 + 600);
        assert_eq!(later.failures, 1);
        assert_eq!(later.locked_until, 0);
    }

    #[test]
    fn a_refund_lifts_only_the_lock_its_own_charge_set() {
        let four = charged(&[0, 1, 2, 3]).unwrap();
        let five = RULE.charge(Some(four), 10);
        assert_eq!(five.locked_until, 70);
        let refunded = RULE.refund(five, 10, five.locked_until);
        assert_eq!(refunded.failures, 4);
        assert_eq!(RULE.wait(Some(refunded), 10), None);
        // A later failure's lock stays.
        let six = RULE.charge(Some(five), 11);
        let refunded = RULE.refund(six, 10, 70);
        assert_eq!(RULE.wait(Some(refunded), 11), Some(120));
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_slash_64() {
        assert_eq!(ip_bucket("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(ip_bucket("2001:db8:1:2::9"), "2001:db8:1:2::/64");
        assert_eq!(ip_bucket("::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(ip_bucket("192.0.2.1"), "192.0.2.1");
    }

    #[test]
    fn a_known_client_is_spared_the_per_account_rule_only() {
        let rules = Rules::from_settings(&ThrottleSettings::default());
        let keys = |known| -> Vec<String> {
            password_charges(&rules, "Alice", Some("192.0.2.1"), known)
                .into_iter()
                .map(|c| c.key)
                .collect()
        };
        assert_eq!(
            keys(false),
            vec![
                "password:account_ip:alice|192.0.2.1",
                "password:account:alice",
                "password:ip:192.0.2.1"
            ]
        );
        assert_eq!(
            keys(true),
            vec![
                "password:account_ip:alice|192.0.2.1",
                "password:ip:192.0.2.1"
            ]
        );
        assert_eq!(
            rule_name("password:account_ip:alice|1.2.3.4"),
            "password_account_ip"
        );
        assert_eq!(rule_name(&totp_device_key("d")), "totp_device");
    }

    #[test]
    fn long_names_are_cut_in_keys() {
        let rules = Rules::from_settings(&ThrottleSettings::default());
        let charges = password_charges(&rules, &"x".repeat(10_000), None, false);
        assert!(charges.iter().all(|c| c.key.len() < 120));
    }
}
