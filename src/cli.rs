//! The `twofold` command line: `serve`, `user add`, `credential-report`,
//! `secrets rotate`, `oidc hash-secret` / `rotate-key`, the host operator's break-glass administration (`user
//! list / disable / enable / reset-mfa`, `audit`), groups and policies, and
//! `export` / `import`.
//! Every command reads the same settings, so it acts on the database `serve` reads.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use secrecy::SecretString;

mod access;
mod oidc;

use crate::auth::admin::{Actor, DEFAULT_AUDIT_LIMIT, MAX_AUDIT_LIMIT};
use crate::auth::audit::{AuditEvent, host_operation_record, record_host_operation};
use crate::auth::clock::{Clock, SystemClock, iso8601};
use crate::auth::secrets::SecretsKey;
use crate::auth::{Auth, AuthError, Client};
use crate::config::Settings;
use crate::export_file;
use crate::startup::{Application, build_auth, open_store};
use crate::store::ImportOutcome;
use access::{GroupCommand, PolicyCommand};
use oidc::OidcCommand;

#[derive(Parser)]
#[command(
    name = "twofold",
    version,
    about = "A sign-in server with two real factors"
)]
pub struct Cli {
    /// TOML settings file; TWOFOLD_<SECTION>_<KEY> variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the server.
    Serve,
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Print the credential report (CSV) to standard output.
    CredentialReport,
    /// Print the audit trail, newest first.
    Audit {
        /// Only events about this user.
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// How many events (1 to 1000).
        #[arg(long, value_name = "N", default_value_t = DEFAULT_AUDIT_LIMIT,
              value_parser = clap::value_parser!(u32).range(1..=MAX_AUDIT_LIMIT as i64))]
        limit: u32,
    },
    /// Write every user, second factor (seeds stay sealed), recovery code
    /// hash and audit event to FILE (JSON lines), consistently while the
    /// server runs: the backup, and the way to move to another store.
    Export {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Load an export FILE into an empty store of either backend, in one
    /// transaction (nothing is written if the file or the store is refused).
    Import {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Manage groups and their members (authorization).
    Group {
        #[command(subcommand)]
        command: GroupCommand,
    },
    /// Manage policies and what they are attached to (authorization).
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// OpenID Connect: hash a client secret, rotate the signing keys.
    Oidc {
        #[command(subcommand)]
        command: OidcCommand,
    },
    /// Manage the key that seals stored secrets.
    Secrets {
        #[command(subcommand)]
        command: SecretsCommand,
    },
}

#[derive(Subcommand)]
pub enum SecretsCommand {
    /// Seal every stored secret under a new key, in one transaction; the old
    /// key file is kept as secret.key.old until the next start. Running
    /// servers keep working and pick up the new key.
    Rotate,
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input.
    Add {
        name: String,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
        /// Read the password from standard input (one line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List every user with their second factors and last sign-in.
    List,
    /// Disable a user: they can't sign in and their sessions end at once.
    Disable { name: String },
    /// Let a disabled user sign in again.
    Enable { name: String },
    /// Lost-device reset: remove every second factor and recovery code of the
    /// user and end their sessions; they enrol again at their next sign-in.
    ResetMfa { name: String },
}

impl Cli {
    /// Parses the process's arguments; `serve --help` also shows the defaults
    /// `serve` runs with and where every setting is described.
    pub fn from_args() -> Self {
        let command = Cli::command().mut_subcommand("serve", |serve| {
            serve.after_help(serve_help(&Settings::default()))
        });
        let matches = command.get_matches();
        Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit())
    }
}

/// The end of `serve --help`: the defaults, and the example config.
fn serve_help(defaults: &Settings) -> String {
    format!(
        "With no settings, serve listens on {listen}, serves the origin {origin} \
         (the URL people open) and keeps its data in {storage}.\n\
         Every setting, with its default and meaning, is in config/twofold.example.toml \
         (in twofold's repository): copy it and pass it with --config FILE. \
         Any setting can also be given as TWOFOLD_<SECTION>_<KEY>, \
         e.g. TWOFOLD_SERVER_LISTEN=0.0.0.0:8080 TWOFOLD_SERVER_ORIGIN=https://auth.example.com",
        listen = defaults.server.listen,
        origin = defaults.server.origin,
        storage = defaults.storage.path.display(),
    )
}

/// Reads one line from standard input, without its line ending: a person
/// typing it ends it with Enter.
fn password_from_stdin() -> anyhow::Result<SecretString> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .take(64 * 1024)
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']);
    Ok(SecretString::from(password.to_owned()))
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve => serve(settings, cli.config.as_deref()).await,
        Command::User { command } => user_command(&host_auth(settings).await?, command).await,
        Command::CredentialReport => {
            print!("{}", host_auth(settings).await?.credential_report().await?);
            Ok(())
        }
        Command::Audit { user, limit } => {
            print_audit(&host_auth(settings).await?, user.as_deref(), limit).await
        }
        Command::Secrets {
            command: SecretsCommand::Rotate,
        } => rotate_secrets(settings).await,
        Command::Group { command } => {
            access::group_command(&host_auth(settings).await?, command).await
        }
        Command::Policy { command } => {
            access::policy_command(&host_auth(settings).await?, command).await
        }
        Command::Oidc { command } => oidc::run(settings, command).await,
        Command::Export { file } => export(&settings, &file).await,
        Command::Import { file } => import(&settings, &file).await,
    }
}

/// `twofold export`: reads the store only (no secrets key needed, none made).
async fn export(settings: &Settings, file: &Path) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let counts = export_file::export_to(store.as_ref(), file, SystemClock.now()).await?;
    let detail = format!("{}; file={}", counts.detail(), file.display());
    record_host_operation(
        store.as_ref(),
        SystemClock.now(),
        AuditEvent::StoreExported,
        &detail,
    )
    .await
    .context("the export is written, but its audit event could not be")?;
    eprintln!(
        "exported {} records from {} to {}",
        counts.records,
        settings.database_description(),
        file.display()
    );
    Ok(())
}

/// `twofold import`: the file's header is checked before the store is
/// opened (a new PostgreSQL database gets its schema then).
async fn import(settings: &Settings, file: &Path) -> anyhow::Result<()> {
    let (records, counts) = export_file::read_records(file)?;
    let store = open_store(settings).await?;
    let database = settings.database_description();
    let file_name = file.display().to_string();
    match store
        .import_records(
            records,
            Some(Box::new(move |_| {
                let counts = *counts
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let detail = format!("{}; file={}", counts.detail(), file_name);
                host_operation_record(SystemClock.now(), AuditEvent::StoreImported, &detail)
            })),
        )
        .await
        .with_context(|| format!("importing {}; nothing was written", file.display()))?
    {
        ImportOutcome::Imported { records } => {
            eprintln!(
                "imported {records} records from {} into {database}",
                file.display()
            );
            Ok(())
        }
        ImportOutcome::StoreHasUsers => bail!(
            "{database} already has users; import loads into an empty store only. \
             Nothing was written"
        ),
    }
}

async fn serve(settings: Settings, config: Option<&Path>) -> anyhow::Result<()> {
    crate::telemetry::init(&settings.log);
    let app = Application::build(settings).await?;
    app.announce(config).await?;
    app.run_until_stopped().await?;
    Ok(())
}

/// `twofold secrets rotate`.
async fn rotate_secrets(settings: Settings) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    let file = settings.key_file();
    let detail = format!("key_file={}", file.display());
    let event = Box::new(move |resealed| {
        host_operation_record(
            SystemClock.now(),
            AuditEvent::SecretsRotated,
            &format!("resealed={resealed}; {detail}"),
        )
    });
    let resealed = SecretsKey::rotate(&settings, store.as_ref(), event).await?;
    println!(
        "Sealed {resealed} secrets under a new key in {}; the old key is kept as {}.old until \
         the next start opens everything with the new one. Back up the new key file.",
        file.display(),
        file.display()
    );
    Ok(())
}

/// The domain service over the database `serve` uses, for a command run by
/// the host's operator.
async fn host_auth(settings: Settings) -> anyhow::Result<Auth> {
    build_auth(settings, Arc::new(SystemClock)).await
}

/// `twofold user …`: adding a user, and the host operator's break-glass
/// administration.
async fn user_command(auth: &Auth, command: UserCommand) -> anyhow::Result<()> {
    let by = Actor::host_operator();
    let client = Client::cli();
    match command {
        UserCommand::Add { name, admin, .. } => {
            let password = password_from_stdin()?;
            auth.create_user(&name, &password, admin, None, &client)
                .await?;
            eprintln!("created user {name}{}", if admin { " (admin)" } else { "" });
        }
        UserCommand::List => {
            let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
            let rows = auth
                .users(&by)
                .await?
                .into_iter()
                .map(|u| {
                    vec![
                        u.username,
                        yes_no(u.admin),
                        yes_no(u.disabled),
                        yes_no(u.mfa_active),
                        u.totp_devices.to_string(),
                        u.security_keys.to_string(),
                        u.last_sign_in_at.map_or_else(|| "never".into(), iso8601),
                        iso8601(u.created_at),
                    ]
                })
                .collect();
            print_table(
                &[
                    "USER",
                    "ADMIN",
                    "DISABLED",
                    "MFA",
                    "TOTP",
                    "KEYS",
                    "LAST SIGN-IN",
                    "CREATED",
                ],
                rows,
            );
        }
        UserCommand::Disable { name } => {
            auth.disable_user(&by, &name, &client).await?;
            eprintln!("disabled user {name}; their sessions have ended");
        }
        UserCommand::Enable { name } => {
            auth.enable_user(&by, &name, &client).await?;
            eprintln!("enabled user {name}");
        }
        UserCommand::ResetMfa { name } => {
            let removed = auth.reset_second_factors(&by, &name, &client).await?;
            eprintln!(
                "removed {} second factors and {} recovery codes of {name} and ended their \
                 sessions; they enrol a new factor at their next sign-in",
                removed.devices, removed.recovery_codes
            );
        }
    }
    Ok(())
}

/// `twofold audit`: the trail as a table, newest first.
async fn print_audit(auth: &Auth, user: Option<&str>, limit: u32) -> anyhow::Result<()> {
    let by = Actor::host_operator();
    if let Some(name) = user {
        // Names compare as the store's NOCASE collation does (ASCII case).
        let known = auth.users(&by).await?;
        if !known
            .iter()
            .any(|u| u.username.eq_ignore_ascii_case(name.trim()))
        {
            return Err(AuthError::NotFound("user").into());
        }
    }
    let events = auth.audit_events(&by, user, limit).await?;
    let rows = events
        .into_iter()
        .map(|e| {
            vec![
                iso8601(e.at),
                e.username.unwrap_or_else(|| "-".into()),
                e.event,
                e.ip.unwrap_or_else(|| "host".into()),
                e.detail,
            ]
        })
        .collect();
    print_table(&["AT", "USER", "EVENT", "IP", "DETAIL"], rows);
    Ok(())
}

/// Prints rows under a header in columns two spaces apart (the last column
/// is not padded).
fn print_table(header: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut text = String::new();
        for (i, cell) in cells.into_iter().enumerate() {
            if i == last {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        println!("{}", text.trim_end());
    };
    line(header.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
}
