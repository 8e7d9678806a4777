//! Managing authorization: groups and their members, named policies and what
//! they are attached to. Names and documents are checked here, every change
//! is audited naming who made it, and a signed-in admin's change needs a
//! recent second factor, as every other administrative change does.

use crate::access::document::{InvalidPolicy, MAX_DOCUMENT_BYTES, PolicyDocument, Problem};
use crate::auth::admin::Actor;
use crate::auth::audit::AuditEvent;
use crate::auth::{Auth, AuthError, Client};
use crate::model::access::{AccessChange, Attachment, GroupRow, PolicyRow};
use crate::store::StoreError;

/// The longest group or policy name, in characters (IAM's group name bound).
pub const MAX_NAME_CHARS: usize = 64;

/// Every way a change to groups or policies can be refused.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// A document that can't be accepted, with where (400 `invalid_policy`).
    #[error(transparent)]
    InvalidPolicy(#[from] InvalidPolicy),
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl From<StoreError> for AccessError {
    fn from(error: StoreError) -> Self {
        AccessError::Auth(error.into())
    }
}

pub type AccessResult<T> = Result<T, AccessError>;

/// What a name is for, in messages.
#[derive(Debug, Clone, Copy)]
pub enum NameOf {
    Group,
    Policy,
    Role,
}

impl NameOf {
    fn noun(self) -> &'static str {
        match self {
            NameOf::Group => "group",
            NameOf::Policy => "policy",
            NameOf::Role => "role",
        }
    }
}

/// A group or policy name as IAM allows one: 1 to 64 of `A-Z a-z 0-9 + = , . @ _ -`,
/// except that a group name has no `,`: `Remote-Groups` lists groups
/// comma-separated, so a comma would let one group read as two to an app.
pub fn check_name(of: NameOf, name: &str) -> Result<(), AuthError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
    let count = name.chars().count();
    if count == 0 || count > MAX_NAME_CHARS || !name.chars().all(allowed) {
        return Err(AuthError::InvalidRequest(format!(
            "a {} name is 1 to {MAX_NAME_CHARS} characters of letters, digits and + = , . @ _ -",
            of.noun()
        )));
    }
    if matches!(of, NameOf::Group) && name.contains(',') {
        return Err(AuthError::InvalidRequest(
            "a group name can't contain ',': Remote-Groups lists groups separated by commas".into(),
        ));
    }
    Ok(())
}

/// A document's bytes as text: at most `MAX_DOCUMENT_BYTES`, UTF-8. Its
/// content is judged by `put_policy`.
pub fn policy_text(bytes: &[u8]) -> Result<&str, InvalidPolicy> {
    let refused = |problem| InvalidPolicy {
        at: "document".into(),
        problem,
    };
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(refused(Problem::TooLarge));
    }
    std::str::from_utf8(bytes).map_err(|_| refused(Problem::NotJson("not UTF-8 text".into())))
}

/// How the audit trail and messages name an attachment's target.
fn describe(to: &Attachment) -> String {
    match to {
        Attachment::Group(name) => format!("group={name}"),
        Attachment::User(name) => format!("user={name}"),
    }
}

/// The "missing" arms of a change as 404s.
pub(crate) fn found(change: AccessChange) -> Result<(), AuthError> {
    match change {
        AccessChange::Done => Ok(()),
        AccessChange::NoSuchGroup => Err(AuthError::NotFound("group")),
        AccessChange::NoSuchPolicy => Err(AuthError::NotFound("policy")),
        AccessChange::NoSuchUser => Err(AuthError::NotFound("user")),
    }
}

impl Auth {
    /// Every group with its members and policies, by name.
    pub async fn groups(&self, _by: &Actor) -> AccessResult<Vec<GroupRow>> {
        Ok(self.store.access_rows().await?.groups)
    }

    /// Every policy with its document and attachments, by name.
    pub async fn policies(&self, _by: &Actor) -> AccessResult<Vec<PolicyRow>> {
        Ok(self.store.access_rows().await?.policies)
    }

    /// Creates a group; `true` when it is new (an existing one is left as is).
    pub async fn create_group(
        &self,
        by: &Actor,
        name: &str,
        client: &Client,
    ) -> AccessResult<bool> {
        self.require_recent_second_factor_of(by)?;
        check_name(NameOf::Group, name)?;
        let created = self.store.put_group(name).await?;
        if created {
            let what = format!("group={name}");
            self.after_change(AuditEvent::GroupCreated, by, None, &what, client)
                .await;
        }
        Ok(created)
    }

    /// Deletes a group with its memberships and attachments.
    pub async fn delete_group(&self, by: &Actor, name: &str, client: &Client) -> AccessResult<()> {
        self.delete_named(NameOf::Group, by, name, client).await
    }

    /// Makes a user a member of a group (already one is not an error).
    pub async fn add_group_member(
        &self,
        by: &Actor,
        group: &str,
        username: &str,
        client: &Client,
    ) -> AccessResult<()> {
        self.change_membership(true, by, group, username, client)
            .await
    }

    /// Takes a user out of a group (not a member is not an error).
    pub async fn remove_group_member(
        &self,
        by: &Actor,
        group: &str,
        username: &str,
        client: &Client,
    ) -> AccessResult<()> {
        self.change_membership(false, by, group, username, client)
            .await
    }

    async fn change_membership(
        &self,
        member: bool,
        by: &Actor,
        group: &str,
        username: &str,
        client: &Client,
    ) -> AccessResult<()> {
        self.require_recent_second_factor_of(by)?;
        let (change, event) = if member {
            let change = self.store.add_member(group, username).await?;
            (change, AuditEvent::GroupMemberAdded)
        } else {
            let change = self.store.remove_member(group, username).await?;
            (change, AuditEvent::GroupMemberRemoved)
        };
        found(change)?;
        let what = format!("group={group}");
        self.after_change(event, by, Some(username), &what, client)
            .await;
        Ok(())
    }

    /// Creates or replaces a policy once its document is valid; `true` when
    /// it is new. The document is kept exactly as given.
    pub async fn put_policy(
        &self,
        by: &Actor,
        name: &str,
        document: &str,
        client: &Client,
    ) -> AccessResult<bool> {
        self.require_recent_second_factor_of(by)?;
        check_name(NameOf::Policy, name)?;
        PolicyDocument::parse(document)?;
        let created = self
            .store
            .put_policy(name, document, self.clock.now())
            .await?;
        let what = format!(
            "policy={name}; {}",
            if created { "created" } else { "replaced" }
        );
        self.after_change(AuditEvent::PolicyPut, by, None, &what, client)
            .await;
        Ok(created)
    }

    /// Deletes a policy, detaching it everywhere.
    pub async fn delete_policy(&self, by: &Actor, name: &str, client: &Client) -> AccessResult<()> {
        self.delete_named(NameOf::Policy, by, name, client).await
    }

    pub(super) async fn delete_named(
        &self,
        kind: NameOf,
        by: &Actor,
        name: &str,
        client: &Client,
    ) -> AccessResult<()> {
        self.require_recent_second_factor_of(by)?;
        let (deleted, event, noun) = match kind {
            NameOf::Group => (
                self.store.delete_group(name).await?,
                AuditEvent::GroupDeleted,
                "group",
            ),
            NameOf::Policy => (
                self.store.delete_policy(name).await?,
                AuditEvent::PolicyDeleted,
                "policy",
            ),
            NameOf::Role => (
                self.store.delete_role(name).await?,
                AuditEvent::RoleDeleted,
                "role",
            ),
        };
        if !deleted {
            return Err(AuthError::NotFound(noun).into());
        }
        let what = format!("{noun}={name}");
        self.after_change(event, by, None, &what, client).await;
        Ok(())
    }

    /// Attaches a policy to a group or a user (attached already is not an error).
    pub async fn attach_policy(
        &self,
        by: &Actor,
        policy: &str,
        to: &Attachment,
        client: &Client,
    ) -> AccessResult<()> {
        self.change_attachment(true, by, policy, to, client).await
    }

    /// Detaches a policy from a group or a user (not attached is not an error).
    pub async fn detach_policy(
        &self,
        by: &Actor,
        policy: &str,
        to: &Attachment,
        client: &Client,
    ) -> AccessResult<()> {
        self.change_attachment(false, by, policy, to, client).await
    }

    async fn change_attachment(
        &self,
        attached: bool,
        by: &Actor,
        policy: &str,
        to: &Attachment,
        client: &Client,
    ) -> AccessResult<()> {
        self.require_recent_second_factor_of(by)?;
        let (change, event) = if attached {
            let change = self.store.attach_policy(policy, to).await?;
            (change, AuditEvent::PolicyAttached)
        } else {
            let change = self.store.detach_policy(policy, to).await?;
            (change, AuditEvent::PolicyDetached)
        };
        found(change)?;
        let username = match to {
            Attachment::User(name) => Some(name.as_str()),
            Attachment::Group(_) => None,
        };
        let what = format!("policy={policy}; {}", describe(to));
        self.after_change(event, by, username, &what, client).await;
        Ok(())
    }

    /// After every change: the next decision reads the policies again, and
    /// the change is audited with the acting admin (`what` follows `by=…; `).
    pub(super) async fn after_change(
        &self,
        event: AuditEvent,
        by: &Actor,
        username: Option<&str>,
        what: &str,
        client: &Client,
    ) {
        self.access_changed();
        let detail = format!("by={}; {what}", by.name());
        self.audit(event, username, client, &detail).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_iam_rules() {
        for good in ["ops", "a", "Team.Ops+EU=1.x@y_z-w", &"g".repeat(64)] {
            assert!(check_name(NameOf::Group, good).is_ok(), "{good}");
        }
        // A comma would split one group in two in `Remote-Groups`; a policy
        // name is never listed there and keeps IAM's comma.
        assert!(check_name(NameOf::Group, "ops,admins").is_err());
        assert!(check_name(NameOf::Policy, "read,write").is_ok());
        for bad in [
            "",
            "with space",
            "slash/y",
            "ümlaut",
            "semi;colon",
            &"g".repeat(65),
        ] {
            assert!(check_name(NameOf::Policy, bad).is_err(), "{bad}");
        }
    }
}
