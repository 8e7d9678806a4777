//! The `twofold` command line: `serve`, `user add`, `credential-report`. Every
//! command reads the same settings, so `user add` writes to the database
//! `serve` reads.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::SecretString;

use crate::auth::Client;
use crate::auth::clock::SystemClock;
use crate::config::Settings;
use crate::startup::{Application, build_auth};

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
}

/// Reads one line from standard input, without its line ending.
fn password_from_stdin() -> anyhow::Result<SecretString> {
    let mut input = String::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut input)
        .context("reading the password from standard input")?;
    let line = input.lines().next().unwrap_or("");
    Ok(SecretString::from(line.to_owned()))
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve => {
            crate::telemetry::init(&settings.log);
            let app = Application::build(settings).await?;
            tracing::info!(
                port = app.port(),
                origin = app.origin(),
                "twofold is listening"
            );
            app.run_until_stopped().await?;
        }
        Command::User {
            command: UserCommand::Add { name, admin, .. },
        } => {
            let password = password_from_stdin()?;
            let auth = build_auth(settings, Arc::new(SystemClock))?;
            auth.create_user(&name, &password, admin, None, &Client::cli())
                .await?;
            eprintln!("created user {name}{}", if admin { " (admin)" } else { "" });
        }
        Command::CredentialReport => {
            let auth = build_auth(settings, Arc::new(SystemClock))?;
            print!("{}", auth.credential_report().await?);
        }
    }
    Ok(())
}
