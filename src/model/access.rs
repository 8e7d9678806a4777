//! The rows authorization keeps: groups, named policy documents and what they
//! are attached to. Plain data shared by the store (which keeps them) and the
//! `access` room (which compiles and evaluates them).

use super::Timestamp;

/// Who a policy is attached to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Attachment {
    Group(String),
    /// A user by username (the store resolves it).
    User(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    pub name: String,
    /// Usernames, sorted.
    pub members: Vec<String>,
    /// Policy names attached to the group, sorted.
    pub policies: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRow {
    pub name: String,
    /// The JSON document exactly as it was accepted.
    pub document: String,
    pub attached_to: Vec<Attachment>,
    pub updated_at: Timestamp,
}

/// A role: who may assume it (users and groups), the policies that are its
/// permissions alone, and how long its tokens may live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRow {
    pub name: String,
    /// Sorted.
    pub trusted_groups: Vec<String>,
    /// Usernames, sorted.
    pub trusted_users: Vec<String>,
    /// Policy names, sorted.
    pub policies: Vec<String>,
    pub max_duration_secs: i64,
    pub updated_at: Timestamp,
}

/// Everything authorization reads, taken in one read transaction, with the
/// version counter it was read at (every change bumps it in the change's own
/// transaction, so a snapshot and its version always agree).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessRows {
    pub version: i64,
    pub groups: Vec<GroupRow>,
    pub policies: Vec<PolicyRow>,
    pub roles: Vec<RoleRow>,
}

/// The answer to a change naming things that may not exist. Each "missing"
/// arm maps to 404 `not_found`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessChange {
    /// Written (or already so: attaching twice is not an error).
    Done,
    NoSuchGroup,
    NoSuchPolicy,
    NoSuchUser,
}

/// The most groups a store holds.
pub const MAX_GROUPS: usize = 1000;
/// The most policies a store holds.
pub const MAX_POLICIES: usize = 1000;
/// The most policies attached to one group or one user (IAM's quota for
/// managed policies per user or group).
pub const MAX_POLICIES_PER_TARGET: usize = 10;

/// The most roles a store holds.
pub const MAX_ROLES: usize = 1000;
/// The most users and groups one role trusts.
pub const MAX_ROLE_TRUST: usize = 100;

/// A bound a change would overrun: checked by the store inside the change's
/// own transaction, so parallel changes can't overrun it together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccessLimit {
    #[error("there are already {MAX_GROUPS} groups, the most there may be")]
    Groups,
    #[error("there are already {MAX_POLICIES} policies, the most there may be")]
    Policies,
    #[error("a group, user or role has at most {MAX_POLICIES_PER_TARGET} policies attached")]
    PoliciesPerTarget,
    #[error("there are already {MAX_ROLES} roles, the most there may be")]
    Roles,
    #[error("a role trusts at most {MAX_ROLE_TRUST} users and groups")]
    RoleTrust,
}

impl AccessRows {
    /// Puts rows read from a store's tables together: groups and policies by
    /// name, members and attachments sorted, each group listing the policies
    /// attached to it.
    pub fn assemble(
        version: i64,
        groups: Vec<String>,
        members: Vec<(String, String)>,
        policies: Vec<PolicyRow>,
        attachments: Vec<(String, Attachment)>,
    ) -> Self {
        use std::collections::BTreeMap;
        let mut groups: BTreeMap<String, GroupRow> = groups
            .into_iter()
            .map(|name| {
                let row = GroupRow {
                    name: name.clone(),
                    members: Vec::new(),
                    policies: Vec::new(),
                };
                (name, row)
            })
            .collect();
        for (group, username) in members {
            if let Some(group) = groups.get_mut(&group) {
                group.members.push(username);
            }
        }
        let mut policies: BTreeMap<String, PolicyRow> = policies
            .into_iter()
            .map(|policy| (policy.name.clone(), policy))
            .collect();
        for (policy, to) in attachments {
            if let Attachment::Group(name) = &to
                && let Some(group) = groups.get_mut(name)
            {
                group.policies.push(policy.clone());
            }
            if let Some(policy) = policies.get_mut(&policy) {
                policy.attached_to.push(to);
            }
        }
        let groups = groups
            .into_values()
            .map(|mut group| {
                group.members.sort();
                group.policies.sort();
                group
            })
            .collect();
        let policies = policies
            .into_values()
            .map(|mut policy| {
                policy.attached_to.sort();
                policy
            })
            .collect();
        Self {
            version,
            groups,
            policies,
            roles: Vec::new(),
        }
    }
}
