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

/// Everything authorization reads, taken in one read transaction, with the
/// version counter it was read at (every change bumps it in the change's own
/// transaction, so a snapshot and its version always agree).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessRows {
    pub version: i64,
    pub groups: Vec<GroupRow>,
    pub policies: Vec<PolicyRow>,
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
