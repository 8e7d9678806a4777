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
        let action = if action.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(action.to_ascii_lowercase())
        } else {
            Cow::Borrowed(action)
        };
        Self {
            action,
            resource,
            context,
        }
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
    let matched: Vec<Matched<'p>> = matching(policies, request).collect();
    let decision = if matched.iter().any(|m| m.effect == Effect::Deny) {
        Decision::Deny
    } else if matched.is_empty() {
        Decision::ImplicitDeny
    } else {
        Decision::Allow
    };
    Evaluation { decision, matched }
}

/// The decision and the statement that made it, stopping at the first Deny
/// and allocating nothing (the per-request path).
pub fn decide<'p>(
    policies: impl IntoIterator<Item = &'p CompiledPolicy>,
    request: &Request<'_>,
) -> (Decision, Option<Matched<'p>>) {
    let mut allowed = None;
    for matched in matching(policies, request) {
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

fn matching<'p, 'r, I>(
    policies: I,
    request: &'r Request<'r>,
) -> impl Iterator<Item = Matched<'p>> + 'r
where
    I: IntoIterator<Item = &'p CompiledPolicy>,
    I::IntoIter: 'r,
    'p: 'r,
{
    policies.into_iter().flat_map(move |policy| {
        policy
            .statements
            .iter()
            .filter(move |statement| statement_matches(statement, request))
            .map(|statement| Matched {
                policy: &policy.name,
                sid: statement.sid.as_deref(),
                effect: statement.effect,
            })
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
