//! An index over every compiled statement, so a request meets only the
//! statements that could match it: by action (its exact name, else its
//! service `http:`) or by resource (its exact text, else its start up to the
//! first path `/`, as `https://host/`). What it yields is a superset of the
//! matches, in evaluation order; the engine still checks each one in full.
//!
//! A statement goes into a bucket per pattern: an exact pattern under its
//! text, a wildcard one under the key of its literal start (the text before
//! the first `*` or `?`) when that start reaches the key, otherwise — and
//! for `NotAction`/`NotResource` — into the rest, which every request meets.
//! Every text a pattern matches begins with its literal start, so it has the
//! same key: no statement that can match is left out.

use std::collections::HashMap;

use super::document::{Statement, Targets};
use super::engine::CompiledPolicy;

/// Every statement of a snapshot's policies, bucketed by action and by resource.
#[derive(Debug)]
pub struct StatementIndex {
    /// (policy, statement) positions in evaluation order: policies as the
    /// snapshot holds them, statements as written. Buckets hold positions
    /// in this list, ascending.
    entries: Vec<(usize, usize)>,
    actions: Dimension,
    resources: Dimension,
    /// Tests narrow by one dimension, so each is checked on its own.
    #[cfg(test)]
    pub(super) only: Option<Narrowing>,
}

#[cfg(test)]
#[derive(Debug, Clone, Copy)]
pub(super) enum Narrowing {
    ByAction,
    ByResource,
}

/// One way of narrowing the statements down.
#[derive(Debug)]
struct Dimension {
    /// The part of a text (or of a pattern's literal start) buckets are keyed by.
    key: fn(&str) -> Option<&str>,
    exact: HashMap<Box<str>, Vec<usize>>,
    keyed: HashMap<Box<str>, Vec<usize>>,
    /// Met by every request.
    rest: Vec<usize>,
}

impl Dimension {
    fn new(key: fn(&str) -> Option<&str>) -> Self {
        Self {
            key,
            exact: HashMap::new(),
            keyed: HashMap::new(),
            rest: Vec::new(),
        }
    }

    /// Adds statement `at` (larger than any added before) under its patterns.
    fn add(&mut self, at: usize, targets: &Targets) {
        if targets.negated {
            self.rest.push(at);
            return;
        }
        for pattern in &targets.patterns {
            let bucket = if pattern.is_exact() {
                self.exact.entry(pattern.as_str().into()).or_default()
            } else if let Some(key) = (self.key)(pattern.literal_prefix()) {
                self.keyed.entry(key.into()).or_default()
            } else {
                &mut self.rest
            };
            // Two patterns of one statement may share a bucket.
            if bucket.last() != Some(&at) {
                bucket.push(at);
            }
        }
    }

    /// The buckets a text meets.
    fn lookup(&self, text: &str) -> [&[usize]; 3] {
        let exact = self.exact.get(text);
        let keyed = (self.key)(text).and_then(|key| self.keyed.get(key));
        [
            exact.map_or(&[][..], Vec::as_slice),
            keyed.map_or(&[][..], Vec::as_slice),
            &self.rest,
        ]
    }
}

/// An action's service with its colon (`http:`). Services hold no
/// wildcard, so an action pattern other than `*` always reaches it.
fn service(action: &str) -> Option<&str> {
    action.find(':').map(|colon| &action[..=colon])
}

/// A resource's start up to its first path `/`: the first `/` that follows
/// neither `/` nor `:` (`https://host/`, `twofold:user/`). It depends only
/// on the text up to it, so every text that begins with a pattern's literal
/// start has the same one when that start reaches it.
fn origin(resource: &str) -> Option<&str> {
    let bytes = resource.as_bytes();
    (1..bytes.len())
        .find(|&at| bytes[at] == b'/' && !matches!(bytes[at - 1], b'/' | b':'))
        .map(|at| &resource[..=at])
}

impl StatementIndex {
    pub fn build(policies: &[CompiledPolicy]) -> Self {
        let mut index = Self {
            entries: Vec::new(),
            actions: Dimension::new(service),
            resources: Dimension::new(origin),
            #[cfg(test)]
            only: None,
        };
        for (policy_at, policy) in policies.iter().enumerate() {
            for (statement_at, statement) in policy.statements().iter().enumerate() {
                let at = index.entries.len();
                index.entries.push((policy_at, statement_at));
                index.actions.add(at, &statement.actions);
                index.resources.add(at, &statement.resources);
            }
        }
        index
    }

    /// The statements of the policies at `held` (ascending positions) that
    /// could match `action` (lowercased) on `resource`, in evaluation order.
    /// `held_statements` is how many statements those policies have: when
    /// the index would offer more than that, walking them all is cheaper.
    pub fn candidates<'p>(
        &'p self,
        policies: &'p [CompiledPolicy],
        held: &'p [usize],
        held_statements: usize,
        action: &str,
        resource: &str,
    ) -> Candidates<'p> {
        let by_action = self.actions.lookup(action);
        let by_resource = self.resources.lookup(resource);
        let size = |lists: &[&[usize]; 3]| lists.iter().map(|list| list.len()).sum::<usize>();
        let lists = if size(&by_action) <= size(&by_resource) {
            by_action
        } else {
            by_resource
        };
        #[cfg(test)]
        let lists = match self.only {
            Some(Narrowing::ByAction) => by_action,
            Some(Narrowing::ByResource) => by_resource,
            None => lists,
        };
        if size(&lists) >= held_statements {
            return Candidates::all(policies, held);
        }
        Candidates {
            policies,
            held,
            walk: Walk::Indexed {
                entries: &self.entries,
                lists,
            },
        }
    }
}

/// The statements a request meets, in evaluation order.
#[derive(Debug, Clone)]
pub struct Candidates<'p> {
    policies: &'p [CompiledPolicy],
    /// The positions of the policies that apply, ascending; those before
    /// the current statement's policy are dropped as the walk goes.
    held: &'p [usize],
    walk: Walk<'p>,
}

#[derive(Debug, Clone)]
enum Walk<'p> {
    /// Merges the buckets (each ascending), keeping held policies' statements.
    Indexed {
        entries: &'p [(usize, usize)],
        lists: [&'p [usize]; 3],
    },
    /// Every statement of every held policy.
    All { statement: usize },
}

impl<'p> Candidates<'p> {
    /// Every statement of the policies at `held`, without the index.
    pub fn all(policies: &'p [CompiledPolicy], held: &'p [usize]) -> Self {
        Self {
            policies,
            held,
            walk: Walk::All { statement: 0 },
        }
    }
}

impl<'p> Iterator for Candidates<'p> {
    type Item = (&'p CompiledPolicy, &'p Statement);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.walk {
            Walk::All { statement } => loop {
                let policy = &self.policies[*self.held.first()?];
                if let Some(found) = policy.statements().get(*statement) {
                    *statement += 1;
                    return Some((policy, found));
                }
                self.held = &self.held[1..];
                *statement = 0;
            },
            Walk::Indexed { entries, lists } => loop {
                let at = lists
                    .iter()
                    .filter_map(|list| list.first())
                    .min()
                    .copied()?;
                for list in lists.iter_mut() {
                    if list.first() == Some(&at) {
                        *list = &list[1..];
                    }
                }
                let (policy_at, statement_at) = entries[at];
                self.held = &self.held[self.held.partition_point(|&held| held < policy_at)..];
                if self.held.first() == Some(&policy_at) {
                    let policy = &self.policies[policy_at];
                    return Some((policy, &policy.statements()[statement_at]));
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{origin, service};

    #[test]
    fn keys_are_the_service_and_the_start_up_to_the_path() {
        assert_eq!(service("http:get"), Some("http:"));
        assert_eq!(service("http:"), Some("http:"));
        assert_eq!(service("*"), None);
        for (text, key) in [
            (
                "https://grafana.example.com/d/1",
                Some("https://grafana.example.com/"),
            ),
            (
                "https://grafana.example.com/",
                Some("https://grafana.example.com/"),
            ),
            ("https://grafana.example.com", None),
            ("https://", None),
            ("https:///x/", Some("https:///x/")),
            ("twofold:user/bob", Some("twofold:user/")),
            ("/a/b", Some("/a/")),
            ("", None),
            ("*", None),
        ] {
            assert_eq!(origin(text), key, "{text:?}");
        }
    }
}

/// The index must decide exactly as walking every statement does: the same
/// decision, the same deciding statement, the same step-up, and for the
/// simulator the same matches in the same order, over random policies
/// (wildcards, `NotAction`, `NotResource`, Deny, conditions) and requests.
#[cfg(test)]
mod same_decisions {
    use proptest::prelude::*;
    use proptest::sample::{select, subsequence};

    use super::Narrowing;
    use crate::access::engine::CompiledPolicy;
    use crate::access::snapshot::{Asker, SecondFactor, Snapshot};
    use crate::config::DefaultDecision;
    use crate::model::access::{AccessRows, Attachment, GroupRow, PolicyRow};

    const USERS: [&str; 3] = ["alice", "bob", "carol"];
    const GROUPS: [&str; 2] = ["ops", "dev"];

    const ACTION_PATTERNS: [&str; 14] = [
        "*",
        "http:*",
        "http:GET",
        "HTTP:post",
        "http:g?t",
        "http:?et",
        "http:p*",
        "http:*t",
        "twofold:*",
        "twofold:ResetMfa",
        "twofold:ListUsers",
        "twofold:List*",
        "sts:AssumeRole",
        "oidc:*",
    ];
    const ACTIONS: [&str; 9] = [
        "http:GET",
        "HTTP:post",
        "http:DELETE",
        "http:GETX",
        "twofold:ResetMfa",
        "twofold:listusers",
        "twofold:CreateUser",
        "sts:AssumeRole",
        "oidc:Authorize",
    ];
    const METHODS: [&str; 5] = ["GET", "post", "DELETE", "GETX", "HEAD"];
    /// Operators all different, so any two combine in one `Condition` block.
    const CONDITIONS: [&str; 6] = [
        r#""Bool": {"twofold:PhishingResistant": "false"}"#,
        r#""StringEquals": {"twofold:groups": "ops"}"#,
        r#""NumericLessThan": {"twofold:MultiFactorAuthAge": 300}"#,
        r#""StringNotEquals": {"twofold:MfaMethod": "totp"}"#,
        r#""NotIpAddress": {"twofold:SourceIp": "10.0.0.0/8"}"#,
        r#""StringLike": {"twofold:username": "a*"}"#,
    ];

    /// Resources and patterns from pieces that make them share starts
    /// often: hosts that extend one another, paths of several segments, the
    /// `twofold:` resources; between pieces, a wildcard in a pattern, a
    /// run of text (a `/` too) in a resource.
    fn resource_text(pattern: bool) -> impl Strategy<Value = String> {
        let between = if pattern {
            select(&["*", "?", "", "", ""][..])
        } else {
            select(&["", "", "x", "/y", ".evil", "*"][..])
        };
        let scheme = select(&["https://", "http://", "twofold:", "", "https:///"][..]);
        let host = select(
            &[
                "a.example.com",
                "b.example.com",
                "a.example.com.evil",
                "user",
                "",
            ][..],
        );
        let segments = proptest::collection::vec(
            (
                select(&["/admin", "/x", "/", "/d", "/admin.x", "a"][..]),
                between.clone(),
            ),
            0..4,
        );
        let structured = (scheme, between.clone(), host, between, segments).prop_map(
            |(scheme, w1, host, w2, segments)| {
                let path: String = segments
                    .iter()
                    .map(|(segment, w)| format!("{segment}{w}"))
                    .collect();
                format!("{scheme}{w1}{host}{w2}{path}")
            },
        );
        // Short random texts over a small alphabet reach the corner cases
        // (a `/` after `:` or `/`, a wildcard before the first path `/`).
        let random = "[ab/:*?.]{0,8}";
        prop_oneof![3 => structured, 1 => random]
    }

    fn targets(
        name: &'static str,
        patterns: impl Strategy<Value = String>,
    ) -> impl Strategy<Value = String> {
        (any::<bool>(), proptest::collection::vec(patterns, 1..3)).prop_map(
            move |(negated, patterns)| {
                let list: Vec<String> = patterns.iter().map(|p| format!("{p:?}")).collect();
                format!(
                    r#""{}{name}": [{}]"#,
                    if negated { "Not" } else { "" },
                    list.join(", ")
                )
            },
        )
    }

    fn statement(at: usize) -> impl Strategy<Value = String> {
        (
            any::<bool>(),
            any::<bool>(),
            targets(
                "Action",
                select(&ACTION_PATTERNS[..]).prop_map(str::to_owned),
            ),
            targets(
                "Resource",
                resource_text(true).prop_map(|r| if r.is_empty() { "*".to_owned() } else { r }),
            ),
            subsequence(&CONDITIONS[..], 0..=2),
        )
            .prop_map(move |(sid, allow, actions, resources, conditions)| {
                let sid = if sid {
                    format!(r#""Sid": "S{at}", "#)
                } else {
                    String::new()
                };
                let effect = if allow { "Allow" } else { "Deny" };
                let condition = if conditions.is_empty() {
                    String::new()
                } else {
                    format!(r#", "Condition": {{{}}}"#, conditions.join(", "))
                };
                format!(r#"{{{sid}"Effect": "{effect}", {actions}, {resources}{condition}}}"#)
            })
    }

    fn policy(name: String) -> impl Strategy<Value = PolicyRow> {
        let statements =
            (1..6usize).prop_flat_map(|count| (0..count).map(statement).collect::<Vec<_>>());
        let attachments = subsequence(
            USERS
                .iter()
                .map(|u| Attachment::User((*u).into()))
                .chain(GROUPS.iter().map(|g| Attachment::Group((*g).into())))
                .collect::<Vec<_>>(),
            0..=3,
        );
        (statements, attachments).prop_map(move |(statements, attached_to)| PolicyRow {
            name: name.clone(),
            document: format!(
                r#"{{"Version": "2026-12-01", "Statement": [{}]}}"#,
                statements.join(", ")
            ),
            attached_to,
            updated_at: 0,
        })
    }

    fn rows() -> impl Strategy<Value = AccessRows> {
        let policies = (1..8usize).prop_flat_map(|count| {
            (0..count)
                .map(|p| policy(format!("p{p}")))
                .collect::<Vec<_>>()
        });
        let members = subsequence(&USERS[..2], 0..=2)
            .prop_map(|m| m.iter().map(|u| u.to_string()).collect::<Vec<_>>());
        (policies, members.clone(), members).prop_map(|(policies, ops, dev)| AccessRows {
            version: 1,
            groups: vec![
                GroupRow {
                    name: "dev".into(),
                    members: dev,
                    policies: vec![],
                },
                GroupRow {
                    name: "ops".into(),
                    members: ops,
                    policies: vec![],
                },
            ],
            policies,
            roles: vec![],
        })
    }

    #[derive(Debug, Clone)]
    struct Asked {
        username: &'static str,
        admin: bool,
        /// (method, age) of the second factor, if any.
        factor: Option<(Option<&'static str>, i64)>,
        source_ip: Option<&'static str>,
        method: &'static str,
        action: &'static str,
        resource: String,
        /// Also asks about a resource one of the policies names: the
        /// `pick`th pattern with each `*` filled with `fill` (`?` with `q`).
        pick: usize,
        fill: &'static str,
        default: DefaultDecision,
    }

    impl Asked {
        fn asker(&self) -> Asker<'_> {
            Asker {
                username: self.username,
                admin: self.admin,
                second_factor: self
                    .factor
                    .map(|(method, age_secs)| SecondFactor { method, age_secs }),
                source_ip: self.source_ip,
                credential_type: "session",
                role: None,
            }
        }
    }

    prop_compose! {
        fn asked()(
            username in select(&USERS[..]),
            admin in any::<bool>(),
            factor in proptest::option::of((
                select(&[None, Some("totp"), Some("security_key"), Some("passkey")][..]),
                select(&[0i64, 100, 1000][..]),
            )),
            source_ip in select(&[None, Some("10.1.2.3"), Some("192.168.1.1")][..]),
            method in select(&METHODS[..]),
            action in select(&ACTIONS[..]),
            resource in resource_text(false),
            pick in any::<usize>(),
            fill in select(&["", "x", "/", "/y/z", "a.example.com/"][..]),
            open in any::<bool>(),
        ) -> Asked {
            let default = if open { DefaultDecision::Allow } else { DefaultDecision::Deny };
            Asked { username, admin, factor, source_ip, method, action, resource, pick, fill, default }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn the_index_decides_as_walking_every_statement(
            rows in rows(),
            requests in proptest::collection::vec(asked(), 1..12),
        ) {
            let mut named = Vec::new();
            for row in &rows.policies {
                // Otherwise it would stand in as "deny everything" and test little.
                let compiled = CompiledPolicy::compile(&row.name, &row.document);
                prop_assert!(compiled.is_ok(), "{}", row.document);
                for statement in compiled.unwrap().statements() {
                    named.extend(statement.resources.patterns.iter().map(|p| p.as_str().to_owned()));
                }
            }
            let linear = Snapshot::build(&rows).without_index();
            let indexed = Snapshot::build(&rows);
            let by_action = Snapshot::build(&rows).always_indexed(Narrowing::ByAction);
            let by_resource = Snapshot::build(&rows).always_indexed(Narrowing::ByResource);
            let resources = requests.iter().flat_map(|asked| {
                let named = &named[asked.pick % named.len()];
                let filled = named.replace('*', asked.fill).replace('?', "q");
                [(asked, asked.resource.clone()), (asked, filled)]
            });
            for (asked, resource) in resources {
                let asker = asked.asker();
                let (resource, default) = (resource.as_str(), asked.default);
                let expected = linear.forward_auth(&asker, asked.method, resource, default);
                prop_assert_eq!(&indexed.forward_auth(&asker, asked.method, resource, default), &expected);
                prop_assert_eq!(&by_action.forward_auth(&asker, asked.method, resource, default), &expected);
                prop_assert_eq!(&by_resource.forward_auth(&asker, asked.method, resource, default), &expected);
                let expected = linear.permits(&asker, asked.action, resource, default);
                prop_assert_eq!(&indexed.permits(&asker, asked.action, resource, default), &expected);
                prop_assert_eq!(&by_action.permits(&asker, asked.action, resource, default), &expected);
                prop_assert_eq!(&by_resource.permits(&asker, asked.action, resource, default), &expected);
                let given = linear.context_for(&asker);
                let simulate = |snapshot: &Snapshot| {
                    snapshot.simulate(asked.username, asked.admin, asked.action, resource, &given, default)
                };
                let expected = simulate(&linear);
                prop_assert_eq!(&simulate(&indexed), &expected);
                prop_assert_eq!(&simulate(&by_action), &expected);
                prop_assert_eq!(&simulate(&by_resource), &expected);
            }
        }
    }
}
