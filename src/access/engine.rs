//! The decision: given the policies that apply to someone, an action, a
//! resource and the request's condition keys, Allow, explicit Deny or
//! ImplicitDeny, with the statements that matched (for the simulator).
//!
//! As IAM: an explicit Deny in any statement of any policy wins; otherwise an
//! Allow is needed; otherwise nothing decided and the caller applies its
//! default. Actions compare case-insensitively (`http:get` is `http:GET`),
//! resources and condition strings case-sensitively. Policies are compiled
//! once (`CompiledPolicy`); evaluating one parses and allocates nothing
//! beyond the list of matches.

use std::borrow::Cow;

use super::context::{Context, ContextValue};
use super::document::{Condition, Effect, InvalidPolicy, PolicyDocument, Statement, Test};

/// A named policy, checked and ready to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledPolicy {
    name: Box<str>,
    statements: Vec<Statement>,
}

impl CompiledPolicy {
    /// Reads, checks and compiles a stored or submitted document.
    pub fn compile(name: &str, document: &str) -> Result<Self, InvalidPolicy> {
        Ok(Self::new(name, PolicyDocument::parse(document)?))
    }

    pub fn new(name: &str, document: PolicyDocument) -> Self {
        Self {
            name: name.into(),
            statements: document.statements,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }
}

/// What is asked: an action on a resource, with the request's condition keys.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// Lowercased once here, as the compiled action patterns are.
    action: Cow<'a, str>,
    resource: &'a str,
    context: &'a Context,
}

impl<'a> Request<'a> {
    pub fn new(action: &'a str, resource: &'a str, context: &'a Context) -> Self {
        Self {
            action: lowercase_action(action),
            resource,
            context,
        }
    }

    /// The action, lowercased.
    pub fn action(&self) -> &str {
        &self.action
    }

    pub fn resource(&self) -> &str {
        self.resource
    }
}

/// An action as the compiled patterns spell it: lowercased (borrowed when it already is).
pub fn lowercase_action(action: &str) -> Cow<'_, str> {
    if action.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(action.to_ascii_lowercase())
    } else {
        Cow::Borrowed(action)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// An explicit Deny matched.
    Deny,
    /// Nothing allowed it: the caller's default decides.
    ImplicitDeny,
}

/// A statement that matched a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matched<'p> {
    pub policy: &'p str,
    pub sid: Option<&'p str>,
    pub effect: Effect,
}

/// A decision and every statement that matched, in policy and statement order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation<'p> {
    pub decision: Decision,
    pub matched: Vec<Matched<'p>>,
}

impl Evaluation<'_> {
    /// The statement that decided: the first Deny, else the first Allow.
    pub fn deciding(&self) -> Option<Matched<'_>> {
        let effect = match self.decision {
            Decision::Allow => Effect::Allow,
            Decision::Deny => Effect::Deny,
            Decision::ImplicitDeny => return None,
        };
        self.matched.iter().copied().find(|m| m.effect == effect)
    }
}

/// Evaluates every statement and lists those that matched (the simulator's view).
pub fn evaluate<'p>(
    policies: impl IntoIterator<Item = &'p CompiledPolicy>,
    request: &Request<'_>,
) -> Evaluation<'p> {
    evaluate_among(every_statement(policies), request)
}

/// The decision and the statement that made it, stopping at the first Deny
/// and allocating nothing (the per-request path).
pub fn decide<'p>(
    policies: impl IntoIterator<Item = &'p CompiledPolicy>,
    request: &Request<'_>,
) -> (Decision, Option<Matched<'p>>) {
    decide_among(every_statement(policies), request)
}

/// `evaluate` over some statements, in evaluation order, each with its
/// policy: those an index kept for the request, or all of them.
pub fn evaluate_among<'p>(
    statements: impl IntoIterator<Item = (&'p CompiledPolicy, &'p Statement)>,
    request: &Request<'_>,
) -> Evaluation<'p> {
    let matched: Vec<Matched<'p>> = matching(statements, request).collect();
    let decision = if matched.iter().any(|m| m.effect == Effect::Deny) {
        Decision::Deny
    } else if matched.is_empty() {
        Decision::ImplicitDeny
    } else {
        Decision::Allow
    };
    Evaluation { decision, matched }
}

/// `decide` over some statements, in evaluation order, each with its policy.
pub fn decide_among<'p>(
    statements: impl IntoIterator<Item = (&'p CompiledPolicy, &'p Statement)>,
    request: &Request<'_>,
) -> (Decision, Option<Matched<'p>>) {
    let mut allowed = None;
    for matched in matching(statements, request) {
        match matched.effect {
            Effect::Deny => return (Decision::Deny, Some(matched)),
            Effect::Allow => {
                allowed.get_or_insert(matched);
            }
        }
    }
    match allowed {
        Some(matched) => (Decision::Allow, Some(matched)),
        None => (Decision::ImplicitDeny, None),
    }
}

fn every_statement<'p>(
    policies: impl IntoIterator<Item = &'p CompiledPolicy>,
) -> impl Iterator<Item = (&'p CompiledPolicy, &'p Statement)> {
    policies.into_iter().flat_map(|policy| {
        policy
            .statements
            .iter()
            .map(move |statement| (policy, statement))
    })
}

fn matching<'p, 'r>(
    statements: impl IntoIterator<Item = (&'p CompiledPolicy, &'p Statement)> + 'r,
    request: &'r Request<'r>,
) -> impl Iterator<Item = Matched<'p>> + 'r
where
    'p: 'r,
{
    statements
        .into_iter()
        .filter(move |(_, statement)| statement_matches(statement, request))
        .map(|(policy, statement)| Matched {
            policy: &policy.name,
            sid: statement.sid.as_deref(),
            effect: statement.effect,
        })
}

fn statement_matches(statement: &Statement, request: &Request<'_>) -> bool {
    statement.actions.matches(&request.action)
        && statement.resources.matches(request.resource)
        && statement
            .conditions
            .iter()
            .all(|condition| condition_holds(condition, request.context))
}

/// A key the request lacks fails the condition whatever the operator (no
/// `…IfExists`); otherwise any value against any listed value, negated
/// operators being the plain one turned around (so a `SourceIp` that is not
/// an address satisfies `NotIpAddress`: a Deny outside a network fails closed).
fn condition_holds(condition: &Condition, context: &Context) -> bool {
    let Some(values) = context.get(condition.key) else {
        return false;
    };
    values
        .iter()
        .any(|value| test_passes(&condition.test, value))
        != condition.negated
}

fn test_passes(test: &Test, value: &ContextValue) -> bool {
    // A value of the wrong form (`"soon"` for a number) matches nothing.
    let number = || value.number();
    match test {
        Test::StringEquals(wanted) => wanted.iter().any(|w| w == value.text()),
        Test::StringLike(patterns) => patterns.iter().any(|p| p.matches(value.text())),
        Test::Bool(wanted) => value.boolean().is_some_and(|b| wanted.contains(&b)),
        Test::NumericLessThan(limits) => {
            number().is_some_and(|n| limits.iter().any(|&limit| n < limit))
        }
        Test::NumericLessThanEquals(limits) => {
            number().is_some_and(|n| limits.iter().any(|&limit| n <= limit))
        }
        Test::NumericGreaterThan(limits) => {
            number().is_some_and(|n| limits.iter().any(|&limit| n > limit))
        }
        Test::IpAddress(networks) => value
            .ip()
            .is_some_and(|ip| networks.iter().any(|network| network.contains(&ip))),
    }
}

#[cfg(test)]
#[rustfmt::skip]
mod tests {
    use super::*;
    use crate::access::context::ConditionKey::*;

    fn policy(name: &str, statements: &str) -> CompiledPolicy {
        let document = format!(r#"{{"Version": "2026-12-01", "Statement": [{statements}]}}"#);
        CompiledPolicy::compile(name, &document).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// A signed-in person with a TOTP code 120 s ago, from 10.1.2.3, in two groups.
    fn alice() -> Context {
        Context::new()
            .with(Username, "alice")
            .with_all(Groups, ["ops", "dev"])
            .with(MultiFactorAuthPresent, "true")
            .with(MultiFactorAuthAge, "120")
            .with(MfaMethod, "totp")
            .with(PhishingResistant, "false")
            .with(SourceIp, "10.1.2.3")
            .with(CredentialType, "session")
    }

    struct Case {
        name: &'static str,
        policies: Vec<CompiledPolicy>,
        action: &'static str,
        resource: &'static str,
        context: Context,
        decision: Decision,
        /// (policy, sid, effect) of every matched statement, in order.
        matched: &'static [(&'static str, &'static str, Effect)],
    }

    const ALLOW: Effect = Effect::Allow;
    const DENY: Effect = Effect::Deny;

    fn allow_grafana() -> CompiledPolicy {
        policy(
            "grafana",
            r#"{"Sid": "UseGrafana", "Effect": "Allow", "Action": ["http:GET", "http:POST"],
                "Resource": "https://grafana.example.com/*"}"#,
        )
    }

    fn cases() -> Vec<Case> {
        let with = |key, value: &str| alice().with(key, value);
        let without = |key| {
            let mut context = alice();
            context.remove(key);
            context
        };
        let admin_needs_key = policy(
            "admin-needs-key",
            r#"{"Sid": "AdminNeedsKey", "Effect": "Deny", "Action": "http:*",
                "Resource": "https://grafana.example.com/admin/*",
                "Condition": {"Bool": {"twofold:PhishingResistant": "false"}}}"#,
        );
        let condition = |operator: &str, key: &str, values: &str| {
            policy(
                "conditional",
                &format!(
                    r#"{{"Sid": "C", "Effect": "Allow", "Action": "*", "Resource": "*",
                        "Condition": {{"{operator}": {{"{key}": {values}}}}}}}"#
                ),
            )
        };
        let case = |name, policies, action, resource, context, decision, matched| Case {
            name,
            policies,
            action,
            resource,
            context,
            decision,
            matched,
        };
        use Decision::{Allow, Deny, ImplicitDeny};
        let g = "https://grafana.example.com/d/1";
        vec![
            case("no policy decides nothing", vec![], "http:GET", g, alice(), ImplicitDeny, &[]),
            case("an allow matches", vec![allow_grafana()], "http:GET", g, alice(), Allow,
                &[("grafana", "UseGrafana", ALLOW)]),
            case("actions ignore case", vec![allow_grafana()], "HTTP:get", g, alice(), Allow,
                &[("grafana", "UseGrafana", ALLOW)]),
            case("another method is not allowed", vec![allow_grafana()], "http:DELETE", g, alice(),
                ImplicitDeny, &[]),
            case("http:GET does not allow http:GETX", vec![allow_grafana()], "http:GETX", g, alice(),
                ImplicitDeny, &[]),
            case("resources keep case", vec![allow_grafana()], "http:GET",
                "https://GRAFANA.example.com/d/1", alice(), ImplicitDeny, &[]),
            case("a look-alike host is not the host", vec![allow_grafana()], "http:GET",
                "https://grafana.example.com.evil.net/", alice(), ImplicitDeny, &[]),
            case("an empty resource only matches *", vec![allow_grafana()], "http:GET", "", alice(),
                ImplicitDeny, &[]),
            case("* matches the empty resource",
                vec![policy("all", r#"{"Sid": "All", "Effect": "Allow", "Action": "http:*", "Resource": "*"}"#)],
                "http:GET", "", alice(), Allow, &[("all", "All", ALLOW)]),
            case("deny beats allow across two policies",
                vec![allow_grafana(), policy("no-d", r#"{"Sid": "NoDashboards", "Effect": "Deny",
                    "Action": "http:*", "Resource": "https://grafana.example.com/d/*"}"#)],
                "http:GET", g, alice(), Deny,
                &[("grafana", "UseGrafana", ALLOW), ("no-d", "NoDashboards", DENY)]),
            case("deny listed first still beats a later allow",
                vec![policy("no-d", r#"{"Sid": "NoDashboards", "Effect": "Deny",
                    "Action": "http:*", "Resource": "https://grafana.example.com/d/*"}"#), allow_grafana()],
                "http:GET", g, alice(), Deny,
                &[("no-d", "NoDashboards", DENY), ("grafana", "UseGrafana", ALLOW)]),
            case("a deny whose condition fails leaves the allow",
                vec![allow_grafana(), admin_needs_key.clone()], "http:GET",
                "https://grafana.example.com/admin/users",
                with(PhishingResistant, "true"), Allow, &[("grafana", "UseGrafana", ALLOW)]),
            case("a deny whose condition holds wins",
                vec![allow_grafana(), admin_needs_key.clone()], "http:GET",
                "https://grafana.example.com/admin/users", alice(), Deny,
                &[("grafana", "UseGrafana", ALLOW), ("admin-needs-key", "AdminNeedsKey", DENY)]),
            case("a condition on a missing key does not match, even in a deny",
                vec![allow_grafana(), admin_needs_key], "http:GET",
                "https://grafana.example.com/admin/users", without(PhishingResistant), Allow,
                &[("grafana", "UseGrafana", ALLOW)]),
            case("NotResource allows everything but what it names",
                vec![policy("not-admin", r#"{"Sid": "NotAdmin", "Effect": "Allow", "Action": "http:GET",
                    "NotResource": ["https://*/admin/*", "https://*/admin"]}"#)],
                "http:GET", "https://wiki.example.com/page", alice(), Allow,
                &[("not-admin", "NotAdmin", ALLOW)]),
            case("NotResource does not allow what it names",
                vec![policy("not-admin", r#"{"Sid": "NotAdmin", "Effect": "Allow", "Action": "http:GET",
                    "NotResource": ["https://*/admin/*", "https://*/admin"]}"#)],
                "http:GET", "https://wiki.example.com/admin", alice(), ImplicitDeny, &[]),
            case("NotAction in a deny: only reads pass",
                vec![policy("read-only", r#"{"Sid": "All", "Effect": "Allow", "Action": "http:*", "Resource": "*"},
                    {"Sid": "OnlyRead", "Effect": "Deny", "NotAction": ["http:GET", "http:HEAD"], "Resource": "*"}"#)],
                "http:POST", g, alice(), Deny,
                &[("read-only", "All", ALLOW), ("read-only", "OnlyRead", DENY)]),
            case("NotAction in a deny lets a named action through",
                vec![policy("read-only", r#"{"Sid": "All", "Effect": "Allow", "Action": "http:*", "Resource": "*"},
                    {"Sid": "OnlyRead", "Effect": "Deny", "NotAction": ["http:GET", "http:HEAD"], "Resource": "*"}"#)],
                "http:head", g, alice(), Allow, &[("read-only", "All", ALLOW)]),
            case("a statement without Sid is listed without one",
                vec![policy("anon", r#"{"Effect": "Allow", "Action": "twofold:ResetMfa", "Resource": "twofold:user/*"}"#)],
                "twofold:ResetMfa", "twofold:user/bob", alice(), Allow, &[("anon", "", ALLOW)]),
            case("? is exactly one character",
                vec![policy("q", r#"{"Sid": "Q", "Effect": "Allow", "Action": "twofold:*", "Resource": "twofold:user/b?b"}"#)],
                "twofold:ListUsers", "twofold:user/bb", alice(), ImplicitDeny, &[]),
            // Conditions
            case("groups: any group matches", vec![condition("StringEquals", "twofold:groups", r#"["admins", "dev"]"#)],
                "http:GET", g, alice(), Allow, &[("conditional", "C", ALLOW)]),
            case("groups: none of them matches", vec![condition("StringEquals", "twofold:groups", r#""admins""#)],
                "http:GET", g, alice(), ImplicitDeny, &[]),
            case("groups: StringNotEquals means in none of them",
                vec![condition("StringNotEquals", "twofold:groups", r#""ops""#)],
                "http:GET", g, alice(), ImplicitDeny, &[]),
            case("groups: StringNotEquals holds for someone outside",
                vec![condition("StringNotEquals", "twofold:groups", r#""admins""#)],
                "http:GET", g, alice(), Allow, &[("conditional", "C", ALLOW)]),
            case("groups: someone in no group is outside every group",
                vec![condition("StringNotEquals", "twofold:groups", r#""ops""#)],
                "http:GET", g, alice().with_all(Groups, Vec::<String>::new()), Allow,
                &[("conditional", "C", ALLOW)]),
            case("groups: StringLike on groups", vec![condition("StringLike", "twofold:groups", r#""o*""#)],
                "http:GET", g, alice(), Allow, &[("conditional", "C", ALLOW)]),
            case("StringNotEquals on a missing key does not match",
                vec![condition("StringNotEquals", "twofold:username", r#""bob""#)],
                "http:GET", g, without(Username), ImplicitDeny, &[]),
            case("StringEquals is case-sensitive", vec![condition("StringEquals", "twofold:username", r#""Alice""#)],
                "http:GET", g, alice(), ImplicitDeny, &[]),
            case("condition key names ignore case", vec![condition("StringEquals", "TWOFOLD:USERNAME", r#""alice""#)],
                "http:GET", g, alice(), Allow, &[("conditional", "C", ALLOW)]),
            case("Bool accepts a JSON boolean", vec![condition("Bool", "twofold:MultiFactorAuthPresent", "true")],
                "http:GET", g, alice(), Allow, &[("conditional", "C", ALLOW)]),
            case("Bool against a non-boolean value does not match",
                vec![condition("Bool", "twofold:MultiFactorAuthPresent", r#""true""#)],
                "http:GET", g, with(MultiFactorAuthPresent, "yes"), ImplicitDeny, &[]),
            case("NumericLessThan holds below", vec![condition("NumericLessThan", "twofold:MultiFactorAuthAge", "300")],
                "http:GET", g, alice(), Allow, &[("conditional", "C", ALLOW)]),
            case("NumericLessThan fails at the limit", vec![condition("NumericLessThan", "twofold:MultiFactorAuthAge", "120")],
                "http:GET", g, alice(), ImplicitDeny, &[]),
            case("NumericLessThanEquals holds at the limit",
                vec![condition("NumericLessThanEquals", "twofold:MultiFactorAuthAge", r#""120""#)],
                "http:GET", g, alice(), Allow, &[("conditional", "C", ALLOW)]),
            case("NumericGreaterThan", vec![condition("NumericGreaterThan", "twofold:MultiFactorAuthAge", "60.5")],
                "http:GET", g, alice(), Allow, &[("conditional", "C", ALLOW)]),
            case("a number condition against a non-number does not match",
                vec![condition("NumericGreaterThan", "twofold:MultiFactorAuthAge", "60")],
                "http:GET", g, with(MultiFactorAuthAge, "a while"), ImplicitDeny, &[]),
            case("a missing age does not match", vec![condition("NumericLessThan", "twofold:MultiFactorAuthAge", "300")],
                "http:GET", g, without(MultiFactorAuthAge), ImplicitDeny, &[]),
            case("IpAddress: an IPv4 range", vec![condition("IpAddress", "twofold:SourceIp", r#"["192.0.2.0/24", "10.0.0.0/8"]"#)],
                "http:GET", g, alice(), Allow, &[("conditional", "C", ALLOW)]),
            case("IpAddress: outside the range", vec![condition("IpAddress", "twofold:SourceIp", r#""10.2.0.0/16""#)],
                "http:GET", g, alice(), ImplicitDeny, &[]),
            case("IpAddress: a single address", vec![condition("IpAddress", "twofold:SourceIp", r#""10.1.2.3""#)],
                "http:GET", g, alice(), Allow, &[("conditional", "C", ALLOW)]),
            case("IpAddress: IPv6 in a range", vec![condition("IpAddress", "twofold:SourceIp", r#""2001:db8::/32""#)],
                "http:GET", g, with(SourceIp, "2001:db8:1::7"), Allow, &[("conditional", "C", ALLOW)]),
            case("IpAddress: an IPv4 range does not hold an IPv6 address",
                vec![condition("IpAddress", "twofold:SourceIp", r#""10.0.0.0/8""#)],
                "http:GET", g, with(SourceIp, "2001:db8::1"), ImplicitDeny, &[]),
            case("IpAddress: an IPv4-mapped address is its IPv4 address",
                vec![condition("IpAddress", "twofold:SourceIp", r#""10.0.0.0/8""#)],
                "http:GET", g, with(SourceIp, "::ffff:10.9.9.9"), Allow, &[("conditional", "C", ALLOW)]),
            case("NotIpAddress: outside the office", vec![condition("NotIpAddress", "twofold:SourceIp", r#""192.0.2.0/24""#)],
                "http:GET", g, alice(), Allow, &[("conditional", "C", ALLOW)]),
            case("NotIpAddress: inside the office", vec![condition("NotIpAddress", "twofold:SourceIp", r#""10.0.0.0/8""#)],
                "http:GET", g, alice(), ImplicitDeny, &[]),
            case("NotIpAddress on a missing address does not match",
                vec![condition("NotIpAddress", "twofold:SourceIp", r#""192.0.2.0/24""#)],
                "http:GET", g, without(SourceIp), ImplicitDeny, &[]),
            case("one operator, two keys: both must hold",
                vec![policy("both", r#"{"Sid": "Both", "Effect": "Allow", "Action": "*", "Resource": "*",
                    "Condition": {"StringEquals": {"twofold:MfaMethod": ["security_key", "passkey"],
                                                   "twofold:username": "alice"}}}"#)],
                "http:GET", g, alice(), ImplicitDeny, &[]),
            case("two operators: both must hold",
                vec![policy("both", r#"{"Sid": "Both", "Effect": "Allow", "Action": "*", "Resource": "*",
                    "Condition": {"StringEquals": {"twofold:MfaMethod": ["totp", "passkey"]},
                                  "NumericLessThan": {"twofold:MultiFactorAuthAge": 900},
                                  "StringLike": {"twofold:CredentialType": "sess*"}}}"#)],
                "http:GET", g, alice(), Allow, &[("both", "Both", ALLOW)]),
        ]
    }

    #[test]
    fn decisions_follow_the_table() {
        for case in cases() {
            let request = Request::new(case.action, case.resource, &case.context);
            let evaluation = evaluate(&case.policies, &request);
            let matched: Vec<_> = evaluation
                .matched
                .iter()
                .map(|m| (m.policy, m.sid.unwrap_or(""), m.effect))
                .collect();
            assert_eq!(evaluation.decision, case.decision, "{}: decision", case.name);
            assert_eq!(matched, case.matched, "{}: matched statements", case.name);
            let (decision, deciding) = decide(&case.policies, &request);
            assert_eq!(decision, case.decision, "{}: decide agrees", case.name);
            assert_eq!(deciding, evaluation.deciding(), "{}: same deciding statement", case.name);
        }
    }

    #[test]
    fn the_deciding_statement_is_the_first_deny() {
        let policies = [
            allow_grafana(),
            policy("a", r#"{"Sid": "First", "Effect": "Deny", "Action": "*", "Resource": "*"}"#),
            policy("b", r#"{"Sid": "Second", "Effect": "Deny", "Action": "*", "Resource": "*"}"#),
        ];
        let context = alice();
        let request = Request::new("http:GET", "https://grafana.example.com/", &context);
        let (decision, deciding) = decide(&policies, &request);
        assert_eq!(decision, Decision::Deny);
        assert_eq!(deciding.unwrap().sid, Some("First"));
        assert_eq!(evaluate(&policies, &request).matched.len(), 3);
    }
}
