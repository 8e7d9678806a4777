//! What the server counts for `/metrics`: sign-ins, throttling, forward-auth
//! decisions and their duration, the password-hash queue and live sessions.
//! One registry per `Auth` (no global recorder), written in OpenMetrics text.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// The second factor (or the password) a sign-in step was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInMethod {
    Password,
    Totp,
    SecurityKey,
    RecoveryCode,
    Passkey,
}

impl SignInMethod {
    fn label(self) -> &'static str {
        match self {
            SignInMethod::Password => "password",
            SignInMethod::Totp => "totp",
            SignInMethod::SecurityKey => "security_key",
            SignInMethod::RecoveryCode => "recovery_code",
            SignInMethod::Passkey => "passkey",
        }
    }
}

/// How a sign-in step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInOutcome {
    Success,
    /// A wrong password, code or key answer (or a request that was not one).
    Failure,
    /// Refused by a throttle limit before the answer was checked.
    Throttled,
    /// The server could not decide (storage failed).
    Error,
}

/// What `/api/v1/verify` answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyDecision {
    Allow,
    /// No valid session: 401 to the sign-in page.
    Deny,
    /// Signed in, but a policy refuses (or nothing allows under `deny`): 403.
    Forbidden,
    /// Signed in, allowed after a fresher or phishing-resistant factor: 401
    /// to the step-up page.
    StepUp,
    Error,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SignInLabels {
    method: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ThrottleLabels {
    limit: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    decision: &'static str,
}

/// A cheap handle (clones share the counters).
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    sign_ins: Family<SignInLabels, Counter>,
    throttled: Family<ThrottleLabels, Counter>,
    verify_decisions: Family<DecisionLabels, Counter>,
    verify_duration: Histogram,
    hash_queue_depth: Gauge,
    sessions: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let sign_ins = Family::<SignInLabels, Counter>::default();
        registry.register(
            "twofold_sign_ins",
            "Sign-in steps by method and outcome",
            sign_ins.clone(),
        );
        let throttled = Family::<ThrottleLabels, Counter>::default();
        registry.register(
            "twofold_throttled",
            "Attempts refused by a throttle limit",
            throttled.clone(),
        );
        let verify_decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "twofold_verify_decisions",
            "Forward-auth answers of /api/v1/verify",
            verify_decisions.clone(),
        );
        // 100 µs .. ~3.3 s: a verify is one store read.
        let verify_duration = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register_with_unit(
            "twofold_verify_duration",
            "Time to answer /api/v1/verify",
            Unit::Seconds,
            verify_duration.clone(),
        );
        let hash_queue_depth = Gauge::default();
        registry.register(
            "twofold_password_hash_queue_depth",
            "Password hashes waiting for or running on a hashing thread",
            hash_queue_depth.clone(),
        );
        let sessions = Gauge::default();
        registry.register(
            "twofold_sessions",
            "Live sessions (not expired, not idle past the timeout)",
            sessions.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                sign_ins,
                throttled,
                verify_decisions,
                verify_duration,
                hash_queue_depth,
                sessions,
            }),
        }
    }
}

impl Metrics {
    pub fn sign_in(&self, method: SignInMethod, outcome: SignInOutcome) {
        let outcome = match outcome {
            SignInOutcome::Success => "success",
            SignInOutcome::Failure => "failure",
            SignInOutcome::Throttled => "throttled",
            SignInOutcome::Error => "error",
        };
        let labels = SignInLabels {
            method: method.label(),
            outcome,
        };
        self.inner.sign_ins.get_or_create(&labels).inc();
    }

    /// `limit` names the rule (`password_account_ip`, `totp_device`, …).
    pub fn throttled(&self, limit: &str) {
        let labels = ThrottleLabels {
            limit: limit.to_owned(),
        };
        self.inner.throttled.get_or_create(&labels).inc();
    }

    pub fn verify(&self, decision: VerifyDecision, took: Duration) {
        let decision = match decision {
            VerifyDecision::Allow => "allow",
            VerifyDecision::Deny => "deny",
            VerifyDecision::Forbidden => "forbidden",
            VerifyDecision::StepUp => "step_up",
            VerifyDecision::Error => "error",
        };
        let labels = DecisionLabels { decision };
        self.inner.verify_decisions.get_or_create(&labels).inc();
        self.inner.verify_duration.observe(took.as_secs_f64());
    }

    /// The OpenMetrics text of every series, with the gauges read now.
    pub fn encode(&self, hash_queue_depth: usize, live_sessions: u64) -> String {
        let inner = &self.inner;
        inner
            .hash_queue_depth
            .set(i64::try_from(hash_queue_depth).unwrap_or(i64::MAX));
        inner
            .sessions
            .set(i64::try_from(live_sessions).unwrap_or(i64::MAX));
        let mut text = String::new();
        // Writing into a String can't fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &inner.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_carry_their_labels() {
        let metrics = Metrics::default();
        metrics.sign_in(SignInMethod::Password, SignInOutcome::Failure);
        metrics.throttled("password_ip");
        metrics.verify(VerifyDecision::Deny, Duration::from_millis(1));
        let text = metrics.encode(3, 7);
        assert!(
            text.contains(r#"twofold_sign_ins_total{method="password",outcome="failure"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"twofold_throttled_total{limit="password_ip"} 1"#));
        assert!(text.contains(r#"twofold_verify_decisions_total{decision="deny"} 1"#));
        assert!(text.contains("twofold_verify_duration_seconds_count 1"));
        assert!(text.contains("twofold_password_hash_queue_depth 3"));
        assert!(text.contains("twofold_sessions 7"));
    }
}
