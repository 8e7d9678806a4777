//! `twofold group …` and `twofold policy …`: the host operator manages
//! groups, members, policies and attachments through the same domain calls
//! as the admin API, audited as `by=cli`.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};

use super::print_table;
use crate::access::document::MAX_DOCUMENT_BYTES;
use crate::access::management::{AccessError, policy_text};
use crate::auth::admin::Actor;
use crate::auth::clock::iso8601;
use crate::auth::{Auth, Client};
use crate::model::access::Attachment;

#[derive(Subcommand)]
pub enum GroupCommand {
    /// Create a group (one that exists is left as it is).
    Add { name: String },
    /// Delete a group with its memberships and attachments.
    Delete { name: String },
    /// List every group with its members and policies.
    List,
    /// Make USER a member of GROUP.
    AddMember { group: String, user: String },
    /// Take USER out of GROUP.
    RemoveMember { group: String, user: String },
}

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Create or replace the policy NAME with the JSON document in FILE.
    Put {
        name: String,
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Delete a policy, detaching it everywhere.
    Delete { name: String },
    /// List every policy with what it is attached to.
    List,
    /// Attach the policy NAME to a group or a user.
    Attach {
        name: String,
        #[command(flatten)]
        to: Target,
    },
    /// Detach the policy NAME from a group or a user.
    Detach {
        name: String,
        #[command(flatten)]
        to: Target,
    },
}

/// `--group G | --user U`: exactly one.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct Target {
    #[arg(long, value_name = "G")]
    group: Option<String>,
    #[arg(long, value_name = "U")]
    user: Option<String>,
}

impl Target {
    fn attachment(self) -> Attachment {
        match (self.group, self.user) {
            (Some(group), _) => Attachment::Group(group),
            (None, user) => Attachment::User(user.unwrap_or_default()),
        }
    }
}

/// How a command prints an attachment's target.
fn describe(to: &Attachment) -> String {
    match to {
        Attachment::Group(name) => format!("group {name}"),
        Attachment::User(name) => format!("user {name}"),
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items.join(",")
    }
}

pub async fn group_command(auth: &Auth, command: GroupCommand) -> anyhow::Result<()> {
    let by = Actor::host_operator();
    let client = Client::cli();
    match command {
        GroupCommand::Add { name } => {
            if auth.create_group(&by, &name, &client).await? {
                eprintln!("created group {name}");
            } else {
                eprintln!("group {name} exists already");
            }
        }
        GroupCommand::Delete { name } => {
            auth.delete_group(&by, &name, &client).await?;
            eprintln!("deleted group {name}");
        }
        GroupCommand::List => {
            let rows = auth
                .groups(&by)
                .await?
                .into_iter()
                .map(|g| vec![g.name, list(&g.members), list(&g.policies)])
                .collect();
            print_table(&["GROUP", "MEMBERS", "POLICIES"], rows);
        }
        GroupCommand::AddMember { group, user } => {
            auth.add_group_member(&by, &group, &user, &client).await?;
            eprintln!("{user} is a member of {group}");
        }
        GroupCommand::RemoveMember { group, user } => {
            auth.remove_group_member(&by, &group, &user, &client)
                .await?;
            eprintln!("{user} is not a member of {group}");
        }
    }
    Ok(())
}

/// Reads a policy file, at most one byte past the largest document (so a
/// larger one is refused as the API refuses it, without reading it all).
fn read_document(file: &Path) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .with_context(|| format!("opening {}", file.display()))?
        .take(MAX_DOCUMENT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", file.display()))?;
    Ok(bytes)
}

pub async fn policy_command(auth: &Auth, command: PolicyCommand) -> anyhow::Result<()> {
    let by = Actor::host_operator();
    let client = Client::cli();
    match command {
        PolicyCommand::Put { name, file } => {
            let bytes = read_document(&file)?;
            let document = policy_text(&bytes).map_err(AccessError::from)?;
            let created = auth.put_policy(&by, &name, document, &client).await?;
            eprintln!(
                "{} policy {name}",
                if created { "created" } else { "replaced" }
            );
        }
        PolicyCommand::Delete { name } => {
            auth.delete_policy(&by, &name, &client).await?;
            eprintln!("deleted policy {name}; it is detached everywhere");
        }
        PolicyCommand::List => {
            let rows = auth
                .policies(&by)
                .await?
                .into_iter()
                .map(|p| {
                    let attached: Vec<String> = p.attached_to.iter().map(describe).collect();
                    vec![p.name, iso8601(p.updated_at), list(&attached)]
                })
                .collect();
            print_table(&["POLICY", "UPDATED", "ATTACHED TO"], rows);
        }
        PolicyCommand::Attach { name, to } => {
            let to = to.attachment();
            auth.attach_policy(&by, &name, &to, &client).await?;
            eprintln!("attached policy {name} to {}", describe(&to));
        }
        PolicyCommand::Detach { name, to } => {
            let to = to.attachment();
            auth.detach_policy(&by, &name, &to, &client).await?;
            eprintln!("detached policy {name} from {}", describe(&to));
        }
    }
    Ok(())
}
