//! Who holds which policies, compiled once from the stored rows: each user's
//! policies (attached to them and to their groups) and groups, and the
//! judgements asked of them — a request at forward-auth (with the step-up
//! that would let it through), an administrative action, a simulation.

use std::collections::{BTreeSet, HashMap};

use super::context::{ConditionKey, Context};
use super::document::Effect;
use super::engine::{
    CompiledPolicy, Decision, Matched, Request, decide_among, evaluate_among, lowercase_action,
};
use super::index::{Candidates, StatementIndex};
use crate::config::DefaultDecision;
use crate::model::access::{AccessRows, Attachment, RoleRow};

/// Every stored policy compiled, and what applies to each user.
#[derive(Debug, Default)]
pub struct Snapshot {
    version: i64,
    /// Sorted by name (as the store lists them), so matches come in a stable order.
    policies: Vec<CompiledPolicy>,
    /// `None` only in tests that compare with walking every statement.
    index: Option<StatementIndex>,
    users: HashMap<String, Holdings>,
    /// Each role as stored, and the indices of its policies.
    roles: HashMap<String, (RoleRow, Vec<usize>)>,
}

/// What one user holds: indices into `Snapshot::policies`, sorted and
/// without repeats, and the groups they belong to, sorted.
#[derive(Debug, Default)]
struct Holdings {
    policies: Vec<usize>,
    /// How many statements those policies have.
    statements: usize,
    groups: Vec<String>,
    /// The groups comma-separated, as forward-auth passes them on.
    groups_joined: String,
}

/// Who is asking, as far as the condition keys go.
#[derive(Debug, Clone, Copy)]
pub struct Asker<'a> {
    pub username: &'a str,
    /// `admin: true`: every `twofold:*` action is allowed.
    pub admin: bool,
    /// The second factor behind the credential; `None` for a credential made
    /// without one (then `twofold:MultiFactorAuthPresent` is false and the
    /// other factor keys are absent).
    pub second_factor: Option<SecondFactor<'a>>,
    pub source_ip: Option<&'a str>,
    /// `session`, `access_key` or `temporary`.
    pub credential_type: &'a str,
    /// A role's token: its permissions are the role's policies alone.
    pub role: Option<&'a str>,
}

#[derive(Debug, Clone, Copy)]
pub struct SecondFactor<'a> {
    /// `totp`, `security_key`, `passkey` or `recovery_code`; `None` when
    /// the credential does not record it (`twofold:MfaMethod` is then absent).
    pub method: Option<&'a str>,
    /// Seconds since it was passed.
    pub age_secs: i64,
}

/// The second factor a refused request lacks, for `/reauthenticate?require=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepUp {
    /// A second factor passed just now (`twofold:MultiFactorAuthAge` 0).
    Recent,
    /// A WebAuthn one passed just now (also `twofold:MfaMethod`
    /// `security_key`, `twofold:PhishingResistant` true).
    SecurityKey,
}

impl StepUp {
    pub fn as_str(self) -> &'static str {
        match self {
            StepUp::Recent => "recent",
            StepUp::SecurityKey => "security_key",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "recent" => Some(StepUp::Recent),
            "security_key" => Some(StepUp::SecurityKey),
            _ => None,
        }
    }
}

/// A statement named for the audit trail and the simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementRef {
    pub policy: String,
    pub sid: Option<String>,
    pub effect: Effect,
}

impl StatementRef {
    fn of(matched: Matched<'_>) -> Self {
        Self {
            policy: matched.policy.to_owned(),
            sid: matched.sid.map(str::to_owned),
            effect: matched.effect,
        }
    }

    /// `policy/sid` (or the policy alone for a statement without a `Sid`).
    pub fn label(&self) -> String {
        match &self.sid {
            Some(sid) => format!("{}/{sid}", self.policy),
            None => self.policy.clone(),
        }
    }
}

/// Forward-auth's answer for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Allowed,
    /// Refused now, allowed after this step-up.
    StepUp(StepUp),
    /// Refused: by this Deny statement, or by nothing allowing it (`None`).
    Forbidden(Option<StatementRef>),
}

/// What the simulator reports, in the contract's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Simulated {
    Allow,
    Deny,
    ImplicitDeny,
}

impl Simulated {
    pub fn as_str(self) -> &'static str {
        match self {
            Simulated::Allow => "allow",
            Simulated::Deny => "deny",
            Simulated::ImplicitDeny => "implicit_deny",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Simulation {
    pub decision: Simulated,
    /// No statement matched: the default (or the admin flag) decided.
    pub by_default: bool,
    /// The admin flag allowed a `twofold:*` action whatever the statements say.
    pub by_admin: bool,
    pub matched: Vec<StatementRef>,
}

/// `http:<method>`, lowercased as the compiled action patterns are.
fn http_action(method: &str) -> String {
    let mut action = String::with_capacity(5 + method.len());
    action.push_str("http:");
    action.push_str(method);
    action.make_ascii_lowercase();
    action
}

/// Whether an action is a request to an app behind forward-auth, the only
/// kind `access.default_decision` applies to.
fn is_http(action: &str) -> bool {
    action
        .get(..5)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("http:"))
}

fn is_twofold(action: &str) -> bool {
    action
        .get(..8)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("twofold:"))
}

/// The final word on an engine decision: an explicit Allow allows; the
/// admin flag allows every `twofold:*` action; with nothing matched,
/// `access.default_decision` decides `http:*` and everything else is
/// refused. Returns (allowed, decided by the admin flag).
/// The action that lets a person sign in to an OpenID Connect client.
pub const OIDC_AUTHORIZE: &str = "oidc:Authorize";

fn settle(decision: Decision, action: &str, admin: bool, default: DefaultDecision) -> (bool, bool) {
    if admin && is_twofold(action) {
        return (true, decision != Decision::Allow);
    }
    let allowed = match decision {
        Decision::Allow => true,
        Decision::Deny => false,
        // Signing in to an OpenID Connect client follows the same default
        // as reaching an app behind forward-auth.
        Decision::ImplicitDeny => {
            (is_http(action) || action.eq_ignore_ascii_case(OIDC_AUTHORIZE))
                && default == DefaultDecision::Allow
        }
    };
    (allowed, false)
}

impl Snapshot {
    /// Compiles every stored policy and works out what each user holds. A
    /// stored document the engine can no longer read (it was accepted by
    /// another version) is kept as one that denies everything, so a Deny is
    /// never lost to an upgrade.
    pub fn build(rows: &AccessRows) -> Self {
        let mut policies = Vec::with_capacity(rows.policies.len());
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(rows.policies.len());
        let mut direct: HashMap<&str, BTreeSet<usize>> = HashMap::new();
        let mut of_group: HashMap<&str, BTreeSet<usize>> = HashMap::new();
        let mut rows_sorted: Vec<_> = rows.policies.iter().collect();
        rows_sorted.sort_by(|a, b| a.name.cmp(&b.name));
        for row in rows_sorted {
            let compiled = CompiledPolicy::compile(&row.name, &row.document).unwrap_or_else(|e| {
                tracing::error!(policy = %row.name, error = %e,
                    "a stored policy no longer reads; it denies everything until it is replaced");
                unreadable(&row.name)
            });
            let at = policies.len();
            policies.push(compiled);
            index.insert(&row.name, at);
            for attachment in &row.attached_to {
                match attachment {
                    Attachment::User(user) => direct.entry(user).or_default().insert(at),
                    Attachment::Group(group) => of_group.entry(group).or_default().insert(at),
                };
            }
        }
        let mut users: HashMap<String, Holdings> = HashMap::new();
        for (user, held) in direct {
            users.entry(user.to_owned()).or_default().policies = held.into_iter().collect();
        }
        for group in &rows.groups {
            let mut held = of_group.remove(group.name.as_str()).unwrap_or_default();
            held.extend(group.policies.iter().filter_map(|p| index.get(p.as_str())));
            for member in &group.members {
                let holdings = users.entry(member.clone()).or_default();
                holdings.groups.push(group.name.clone());
                holdings.policies.extend(held.iter().copied());
            }
        }
        for holdings in users.values_mut() {
            holdings.policies.sort_unstable();
            holdings.policies.dedup();
            holdings.statements = holdings
                .policies
                .iter()
                .map(|&at| policies[at].statements().len())
                .sum();
            holdings.groups.sort();
            holdings.groups.dedup();
            holdings.groups_joined = holdings.groups.join(",");
        }
        let roles = rows
            .roles
            .iter()
            .map(|role| {
                let mut held: Vec<usize> = role
                    .policies
                    .iter()
                    .filter_map(|p| index.get(p.as_str()).copied())
                    .collect();
                held.sort_unstable();
                held.dedup();
                (role.name.clone(), (role.clone(), held))
            })
            .collect();
        Self {
            version: rows.version,
            index: Some(StatementIndex::build(&policies)),
            policies,
            users,
            roles,
        }
    }

    /// The same snapshot walking every statement of a user's policies, as
    /// the index must decide.
    #[cfg(test)]
    pub(super) fn without_index(mut self) -> Self {
        self.index = None;
        self
    }

    /// The same snapshot going through the index by one dimension, even
    /// where walking every statement would be cheaper, so tests reach it.
    #[cfg(test)]
    pub(super) fn always_indexed(mut self, by: super::index::Narrowing) -> Self {
        for holdings in self.users.values_mut() {
            holdings.statements = usize::MAX;
        }
        if let Some(index) = &mut self.index {
            index.only = Some(by);
        }
        self
    }

    /// The store's access version these rows were read at.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// The user's groups, sorted (empty for none).
    pub fn groups_of(&self, username: &str) -> &[String] {
        self.users
            .get(username)
            .map_or(&[][..], |holdings| &holdings.groups)
    }

    /// The user's groups comma-separated (`Remote-Groups`), sorted.
    pub fn groups_joined(&self, username: &str) -> &str {
        self.users
            .get(username)
            .map_or("", |holdings| &holdings.groups_joined)
    }

    /// Every policy that applies to the user, attached to them or to one of
    /// their groups, each once.
    pub fn policies_of<'s>(&'s self, username: &str) -> impl Iterator<Item = &'s CompiledPolicy> {
        self.users
            .get(username)
            .map_or(&[][..], |holdings| &holdings.policies)
            .iter()
            .map(|&at| &self.policies[at])
    }

    /// A role by name.
    pub fn role(&self, name: &str) -> Option<&RoleRow> {
        self.roles.get(name).map(|(role, _)| role)
    }

    /// Every role, by name.
    pub fn roles(&self) -> impl Iterator<Item = &RoleRow> {
        self.roles.values().map(|(role, _)| role)
    }

    /// The policies that decide for `asker` (a role's alone for a role's
    /// token, none when the role is gone; else the user's) and how many
    /// statements they hold.
    fn held_by<'s>(&'s self, asker: &Asker<'_>) -> (&'s [usize], usize) {
        match asker.role {
            Some(role) => {
                let held = self
                    .roles
                    .get(role)
                    .map_or(&[][..], |(_, held)| held.as_slice());
                let statements = held
                    .iter()
                    .map(|&at| self.policies[at].statements().len())
                    .sum();
                (held, statements)
            }
            None => self
                .users
                .get(asker.username)
                .map_or((&[][..], 0), |holdings| {
                    (holdings.policies.as_slice(), holdings.statements)
                }),
        }
    }

    /// The statements of the asker's policies that could match `action`
    /// (lowercased) on `resource`, in evaluation order.
    fn candidates<'s>(&'s self, asker: &Asker<'_>, action: &str, resource: &str) -> Candidates<'s> {
        let (held, statements) = self.held_by(asker);
        match &self.index {
            Some(index) if !held.is_empty() => {
                index.candidates(&self.policies, held, statements, action, resource)
            }
            _ => Candidates::all(&self.policies, held),
        }
    }

    fn holds_any(&self, asker: &Asker<'_>) -> bool {
        !self.held_by(asker).0.is_empty()
    }

    /// The condition keys of a request by `asker`.
    pub fn context_for(&self, asker: &Asker<'_>) -> Context {
        let mut context = Context::new();
        context
            .set(ConditionKey::Username, asker.username)
            .set_all(
                ConditionKey::Groups,
                self.groups_of(asker.username).iter().cloned(),
            )
            .set(ConditionKey::CredentialType, asker.credential_type)
            .set(
                ConditionKey::MultiFactorAuthPresent,
                if asker.second_factor.is_some() {
                    "true"
                } else {
                    "false"
                },
            );
        // Without a second factor there is no age nor method, but the
        // credential is certainly not phishing-resistant: a Deny on
        // `PhishingResistant false` must hold for it too.
        let mut phishing_resistant = false;
        if let Some(factor) = asker.second_factor {
            phishing_resistant = matches!(factor.method, Some("security_key" | "passkey"));
            context.set(
                ConditionKey::MultiFactorAuthAge,
                factor.age_secs.max(0).to_string(),
            );
            if let Some(method) = factor.method {
                context.set(ConditionKey::MfaMethod, method);
            }
        }
        context.set(
            ConditionKey::PhishingResistant,
            phishing_resistant.to_string(),
        );
        if let Some(ip) = asker.source_ip {
            context.set(ConditionKey::SourceIp, ip);
        }
        context
    }

    /// Whether `asker` may perform `action` on `resource`, and the statement
    /// that decided when one did.
    pub fn permits(
        &self,
        asker: &Asker<'_>,
        action: &str,
        resource: &str,
        default: DefaultDecision,
    ) -> (bool, Option<StatementRef>) {
        if asker.admin && is_twofold(action) {
            return (true, None);
        }
        let action = lowercase_action(action);
        let candidates = self.candidates(asker, &action, resource);
        if candidates.clone().next().is_none() {
            // Nothing can match, whatever the condition keys: no context needed.
            return (
                settle(Decision::ImplicitDeny, &action, asker.admin, default).0,
                None,
            );
        }
        let context = self.context_for(asker);
        let (decision, deciding) =
            decide_among(candidates, &Request::new(&action, resource, &context));
        let (allowed, _) = settle(decision, &action, asker.admin, default);
        (allowed, deciding.map(StatementRef::of))
    }

    /// Forward-auth's question: may `asker` send `http:<method>` to `url`?
    /// When not, would they after a fresh second factor, or after a fresh
    /// WebAuthn one (only a credential with a second factor behind it can
    /// step up)?
    pub fn forward_auth(
        &self,
        asker: &Asker<'_>,
        method: &str,
        url: &str,
        default: DefaultDecision,
    ) -> Access {
        // The common case costs no context: nothing attached, default allow.
        if default == DefaultDecision::Allow && !self.holds_any(asker) {
            return Access::Allowed;
        }
        let action = http_action(method);
        let candidates = self.candidates(asker, &action, url);
        if candidates.clone().next().is_none() {
            // Nothing can match, whatever the condition keys (so no step-up
            // would help either): no context needed.
            let (allowed, _) = settle(Decision::ImplicitDeny, &action, asker.admin, default);
            return if allowed {
                Access::Allowed
            } else {
                Access::Forbidden(None)
            };
        }
        let mut context = self.context_for(asker);
        let judge = |context: &Context| {
            let (decision, deciding) =
                decide_among(candidates.clone(), &Request::new(&action, url, context));
            (settle(decision, &action, asker.admin, default).0, deciding)
        };
        let (allowed, deciding) = judge(&context);
        if allowed {
            return Access::Allowed;
        }
        let refused = Access::Forbidden(
            deciding
                .filter(|m| m.effect == Effect::Deny)
                .map(StatementRef::of),
        );
        // Only a browser's session can step up; a script's token can't.
        if asker.second_factor.is_none() || asker.credential_type != "session" {
            return refused;
        }
        context
            .set(ConditionKey::MultiFactorAuthPresent, "true")
            .set(ConditionKey::MultiFactorAuthAge, "0");
        if judge(&context).0 {
            return Access::StepUp(StepUp::Recent);
        }
        context
            .set(ConditionKey::MfaMethod, "security_key")
            .set(ConditionKey::PhishingResistant, "true");
        if judge(&context).0 {
            return Access::StepUp(StepUp::SecurityKey);
        }
        refused
    }

    /// The simulator: every statement that matches `action` on `resource`
    /// for `username` with exactly the condition keys in `given` (plus the
    /// user's name and groups unless `given` sets them), and the decision.
    pub fn simulate(
        &self,
        username: &str,
        admin: bool,
        action: &str,
        resource: &str,
        given: &Context,
        default: DefaultDecision,
    ) -> Simulation {
        let mut context = given.clone();
        if context.get(ConditionKey::Username).is_none() {
            context.set(ConditionKey::Username, username);
        }
        if context.get(ConditionKey::Groups).is_none() {
            context.set_all(
                ConditionKey::Groups,
                self.groups_of(username).iter().cloned(),
            );
        }
        let action = lowercase_action(action);
        // The user's own policies (the simulator asks about a user, never a role).
        let asker = Asker {
            username,
            admin,
            second_factor: None,
            source_ip: None,
            credential_type: "session",
            role: None,
        };
        let evaluation = evaluate_among(
            self.candidates(&asker, &action, resource),
            &Request::new(&action, resource, &context),
        );
        let (allowed, by_admin) = settle(evaluation.decision, &action, admin, default);
        let decision = match (allowed, evaluation.decision) {
            (true, _) => Simulated::Allow,
            (false, Decision::Deny) => Simulated::Deny,
            (false, _) => Simulated::ImplicitDeny,
        };
        Simulation {
            decision,
            by_default: evaluation.matched.is_empty(),
            by_admin,
            matched: evaluation
                .matched
                .into_iter()
                .map(StatementRef::of)
                .collect(),
        }
    }
}

/// Stands in for a stored document that no longer compiles: denies all.
fn unreadable(name: &str) -> CompiledPolicy {
    CompiledPolicy::compile(
        name,
        r#"{"Version": "2026-12-01", "Statement": {"Sid": "UnreadablePolicyDeniesAll",
            "Effect": "Deny", "Action": "*", "Resource": "*"}}"#,
    )
    .expect("the stand-in document is valid")
}

#[cfg(test)]
#[rustfmt::skip]
mod tests {
    use super::*;
    use crate::model::access::{GroupRow, PolicyRow};

    const GRAFANA: &str = "https://grafana.example.com";

    fn row(name: &str, statements: &str, attached_to: &[Attachment]) -> PolicyRow {
        PolicyRow {
            name: name.into(),
            document: format!(r#"{{"Version": "2026-12-01", "Statement": [{statements}]}}"#),
            attached_to: attached_to.to_vec(),
            updated_at: 0,
        }
    }

    fn group(name: &str, members: &[&str], policies: &[&str]) -> GroupRow {
        GroupRow {
            name: name.into(),
            members: members.iter().map(|m| m.to_string()).collect(),
            policies: policies.iter().map(|p| p.to_string()).collect(),
        }
    }

    fn g(name: &str) -> Attachment { Attachment::Group(name.into()) }
    fn u(name: &str) -> Attachment { Attachment::User(name.into()) }

    /// ops may use Grafana; its admin pages need a security key; /fresh
    /// needs a factor passed within 5 minutes; bob is denied /secret directly;
    /// helpdesk may reset second factors and list users.
    fn rows() -> AccessRows {
        AccessRows {
            version: 7,
            groups: vec![
                group("helpdesk", &["hana"], &["helpdesk"]),
                group("ops", &["alice", "bob"], &["grafana", "grafana-admin-key"]),
            ],
            policies: vec![
                row("grafana", r#"{"Sid": "UseGrafana", "Effect": "Allow", "Action": ["http:GET", "http:POST"],
                    "Resource": "https://grafana.example.com/*"}"#, &[g("ops")]),
                row("grafana-admin-key", r#"{"Sid": "AdminNeedsKey", "Effect": "Deny", "Action": "http:*",
                    "Resource": "https://grafana.example.com/admin/*",
                    "Condition": {"Bool": {"twofold:PhishingResistant": "false"}}},
                    {"Sid": "FreshNeedsRecent", "Effect": "Deny", "Action": "http:*",
                    "Resource": "https://grafana.example.com/fresh/*",
                    "Condition": {"NumericGreaterThan": {"twofold:MultiFactorAuthAge": 300}}}"#, &[g("ops")]),
                row("no-secret", r#"{"Sid": "NoSecret", "Effect": "Deny", "Action": "http:*",
                    "Resource": "https://grafana.example.com/secret/*"}"#, &[u("bob")]),
                row("helpdesk", r#"{"Sid": "Helpdesk", "Effect": "Allow",
                    "Action": ["twofold:ResetMfa", "twofold:ListUsers"], "Resource": "*"}"#, &[g("helpdesk")]),
            ],
            roles: vec![],
        }
    }

    fn asker(username: &'static str, method: &'static str, age: i64) -> Asker<'static> {
        Asker {
            username,
            admin: false,
            second_factor: Some(SecondFactor { method: Some(method), age_secs: age }),
            source_ip: Some("10.0.0.1"),
            credential_type: "session",
            role: None,
        }
    }

    #[test]
    fn users_hold_their_own_and_their_groups_policies_each_once() {
        let snapshot = Snapshot::build(&rows());
        let names = |user: &str| snapshot.policies_of(user).map(|p| p.name().to_owned()).collect::<Vec<_>>();
        assert_eq!(snapshot.version(), 7);
        assert_eq!(names("alice"), ["grafana", "grafana-admin-key"]);
        assert_eq!(names("bob"), ["grafana", "grafana-admin-key", "no-secret"]);
        assert_eq!(names("hana"), ["helpdesk"]);
        assert!(names("nobody").is_empty());
        assert_eq!(snapshot.groups_of("alice"), ["ops"]);
        assert_eq!(snapshot.groups_joined("alice"), "ops");
        assert_eq!(snapshot.groups_joined("nobody"), "");
        assert!(snapshot.groups_of("nobody").is_empty());
    }

    #[test]
    fn forward_auth_follows_the_table() {
        use Access::*;
        use DefaultDecision::{Allow as Open, Deny as Closed};
        let snapshot = Snapshot::build(&rows());
        let deny = |policy: &str, sid: &str| Forbidden(Some(StatementRef {
            policy: policy.into(), sid: Some(sid.into()), effect: Effect::Deny }));
        let cases: Vec<(&str, Asker, &str, String, DefaultDecision, Access)> = vec![
            ("a group's allow", asker("alice", "totp", 30), "GET", format!("{GRAFANA}/d/1"), Closed, Allowed),
            ("a method not allowed, least privilege", asker("alice", "totp", 30), "DELETE", format!("{GRAFANA}/d/1"), Closed, Forbidden(None)),
            ("a method not allowed, default allow", asker("alice", "totp", 30), "DELETE", format!("{GRAFANA}/d/1"), Open, Allowed),
            ("no policy at all, default allow", asker("zoe", "totp", 3000), "GET", "https://wiki.example.com/".into(), Open, Allowed),
            ("no policy at all, least privilege", asker("zoe", "totp", 3000), "GET", "https://wiki.example.com/".into(), Closed, Forbidden(None)),
            ("admin path with a code: a key is needed", asker("alice", "totp", 30), "GET", format!("{GRAFANA}/admin/users"), Closed, StepUp(super::StepUp::SecurityKey)),
            ("admin path with a key", asker("alice", "security_key", 30), "GET", format!("{GRAFANA}/admin/users"), Closed, Allowed),
            ("admin path with a passkey", asker("alice", "passkey", 30), "GET", format!("{GRAFANA}/admin/users"), Closed, Allowed),
            ("fresh path, old factor: recent", asker("alice", "totp", 600), "POST", format!("{GRAFANA}/fresh/x"), Closed, StepUp(super::StepUp::Recent)),
            ("fresh path, recent factor", asker("alice", "totp", 60), "POST", format!("{GRAFANA}/fresh/x"), Closed, Allowed),
            ("an unconditional deny can't be stepped past", asker("bob", "security_key", 0), "GET", format!("{GRAFANA}/secret/x"), Open, deny("no-secret", "NoSecret")),
            ("the admin flag does not open http", Asker { admin: true, ..asker("bob", "totp", 0) }, "GET", format!("{GRAFANA}/secret/x"), Open, deny("no-secret", "NoSecret")),
            ("without a second factor there is no step-up", Asker { second_factor: None, ..asker("alice", "totp", 0) }, "GET", format!("{GRAFANA}/admin/x"), Closed, deny("grafana-admin-key", "AdminNeedsKey")),
            ("the empty resource matches only *", asker("alice", "totp", 30), "GET", String::new(), Closed, Forbidden(None)),
        ];
        for (name, asker, method, url, default, expected) in cases {
            assert_eq!(snapshot.forward_auth(&asker, method, &url, default), expected, "{name}");
        }
    }

    #[test]
    fn administration_needs_the_admin_flag_or_an_explicit_allow() {
        let snapshot = Snapshot::build(&rows());
        let admin = Asker { admin: true, ..asker("root", "totp", 0) };
        for (name, who, action, resource, allowed) in [
            ("helpdesk resets", asker("hana", "totp", 0), "twofold:ResetMfa", "twofold:user/alice", true),
            ("helpdesk lists", asker("hana", "totp", 0), "twofold:ListUsers", "*", true),
            ("helpdesk can't create users", asker("hana", "totp", 0), "twofold:CreateUser", "twofold:user/eve", false),
            ("default allow does not open administration", asker("alice", "totp", 0), "twofold:ListUsers", "*", false),
            ("an admin may do anything", admin, "twofold:CreateUser", "twofold:user/eve", true),
            ("action names ignore case", asker("hana", "totp", 0), "TWOFOLD:resetmfa", "twofold:user/x", true),
        ] {
            assert_eq!(snapshot.permits(&who, action, resource, DefaultDecision::Allow).0, allowed, "{name}");
        }
    }

    #[test]
    fn the_simulator_lists_what_matched_and_says_when_the_default_decided() {
        let snapshot = Snapshot::build(&rows());
        let key = Context::new().with(ConditionKey::PhishingResistant, "false");
        let sim = |user, admin, action, resource, given: &Context, default| {
            let s = snapshot.simulate(user, admin, action, resource, given, default);
            (s.decision, s.by_default, s.by_admin, s.matched.iter().map(|m| m.label()).collect::<Vec<_>>())
        };
        use Simulated::*;
        let admin_users = format!("{GRAFANA}/admin/users");
        assert_eq!(sim("alice", false, "http:GET", &admin_users, &key, DefaultDecision::Deny),
            (Deny, false, false, vec!["grafana/UseGrafana".into(), "grafana-admin-key/AdminNeedsKey".into()]));
        // PhishingResistant absent: the Deny's condition does not match.
        assert_eq!(sim("alice", false, "http:GET", &admin_users, &Context::new(), DefaultDecision::Deny),
            (Allow, false, false, vec!["grafana/UseGrafana".into()]));
        assert_eq!(sim("zoe", false, "http:GET", GRAFANA, &Context::new(), DefaultDecision::Allow),
            (Allow, true, false, vec![]));
        assert_eq!(sim("zoe", false, "http:GET", GRAFANA, &Context::new(), DefaultDecision::Deny),
            (ImplicitDeny, true, false, vec![]));
        assert_eq!(sim("zoe", false, "twofold:ListUsers", "*", &Context::new(), DefaultDecision::Allow),
            (ImplicitDeny, true, false, vec![]));
        assert_eq!(sim("zoe", true, "twofold:ListUsers", "*", &Context::new(), DefaultDecision::Allow),
            (Allow, true, true, vec![]));
    }

    #[test]
    fn a_stored_policy_that_no_longer_reads_denies_everything() {
        let mut rows = rows();
        rows.policies.push(row("broken", r#"{"Effect": "Maybe"}"#, &[g("ops")]));
        let snapshot = Snapshot::build(&rows);
        assert_eq!(
            snapshot.forward_auth(&asker("alice", "security_key", 0), "GET", &format!("{GRAFANA}/d/1"), DefaultDecision::Allow),
            Access::Forbidden(Some(StatementRef { policy: "broken".into(), sid: Some("UnreadablePolicyDeniesAll".into()), effect: Effect::Deny }))
        );
    }
}
