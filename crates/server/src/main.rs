//! The `latchkey` binary: `serve`, `init` and `migrate`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod api;
mod audit;
mod auth;
mod config;
mod datadir;
mod follow;
mod html;
mod invitation;
mod mail;
mod oidc;
mod operation;
mod portal;
mod rest;
mod server;
mod throttle;

/// Where data lives when `--data` is not given.
const DEFAULT_DATA_DIR: &str = "latchkey-data";
/// `--store`, shared by the commands that open the store.
const STORE_HELP: &str = "Where the state lives: `sqlite` (the default: latchkey.db in the data \
directory) or a PostgreSQL URL (postgres://user@host/db) shared by several instances, all \
with the same master key";
/// Where `serve` listens when `--listen` is not given.
const DEFAULT_LISTEN: &str = "127.0.0.1:8765";

#[derive(Parser, Debug)]
#[command(
    name = "latchkey",
    version,
    about = "A self-hosted identity service for AWS-style programmatic access"
)]
struct Cli {
    /// A TOML file with `data`, `listen`, `store` and `[limits]`; flags and environment
    /// variables win over it. Default: ./latchkey.toml if it exists.
    #[arg(long, global = true, env = "LATCHKEY_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve IAM and STS on one port, initializing the data directory first if it is new.
    Serve {
        /// The data directory [default: latchkey-data].
        #[arg(long, env = "LATCHKEY_DATA")]
        data: Option<PathBuf>,
        /// The address to listen on [default: 127.0.0.1:8765].
        #[arg(long, env = "LATCHKEY_LISTEN")]
        listen: Option<SocketAddr>,
        #[arg(long, env = "LATCHKEY_STORE", help = STORE_HELP)]
        store: Option<String>,
        /// Answer AccessDenied without the decision's details, which go into an encoded
        /// message for STS DecodeAuthorizationMessage.
        #[arg(long, env = "LATCHKEY_ENCODED_DENIALS")]
        encoded_denials: bool,
        /// Where people reach this server, for links in e-mail [default: http://<listen>].
        #[arg(long, env = "LATCHKEY_PUBLIC_URL")]
        public_url: Option<String>,
        /// The SMTP relay for invitation e-mail (smtp://host:port, smtps://user:pass@host);
        /// without one, messages are written to <data>/outbox/.
        #[arg(long, env = "LATCHKEY_MAIL_RELAY")]
        mail_relay: Option<String>,
        /// The sender of invitation e-mail [default: latchkey <latchkey@localhost>].
        #[arg(long, env = "LATCHKEY_MAIL_FROM")]
        mail_from: Option<String>,
        /// How long invitation links work, in seconds [default: 604800, 7 days].
        #[arg(long, env = "LATCHKEY_INVITATION_TTL")]
        invitation_ttl: Option<u64>,
        /// Also write every audit event to this file, one CloudTrail record per line.
        #[arg(long, env = "LATCHKEY_AUDIT_LOG")]
        audit_log: Option<PathBuf>,
        /// How long audit events are kept, in seconds [default: 7776000, 90 days].
        #[arg(long, env = "LATCHKEY_AUDIT_RETENTION")]
        audit_retention: Option<u64>,
    },
    /// Initialize a new data directory and print the administrator's credentials once.
    Init {
        /// The data directory; it must not hold a latchkey database yet.
        #[arg(long, env = "LATCHKEY_DATA")]
        data: Option<PathBuf>,
        /// Print the credentials as one JSON object.
        #[arg(long)]
        json: bool,
        /// The root user's e-mail address (its console sign-in name).
        #[arg(long)]
        root_email: Option<String>,
        #[arg(long, env = "LATCHKEY_STORE", help = STORE_HELP)]
        store: Option<String>,
    },
    /// Apply the store's schema migrations and print its schema version.
    Migrate {
        /// The data directory (for the SQLite store) [default: latchkey-data].
        #[arg(long, env = "LATCHKEY_DATA")]
        data: Option<PathBuf>,
        #[arg(long, env = "LATCHKEY_STORE", help = STORE_HELP)]
        store: Option<String>,
    },
}

/// Runs a command with each setting taken from its flag or environment variable, else from
/// the configuration file, else from the default.
fn run(command: Command, file: config::Config) -> anyhow::Result<()> {
    let store_of = |flag: Option<String>| {
        datadir::StoreLocation::parse(flag.or(file.store.clone()).as_deref())
    };
    let data_or_default = |flag: Option<PathBuf>| {
        flag.or(file.data.clone())
            .unwrap_or_else(|| DEFAULT_DATA_DIR.into())
    };
    match command {
        Command::Serve {
            data,
            listen,
            store,
            encoded_denials,
            public_url,
            mail_relay,
            mail_from,
            invitation_ttl,
            audit_log,
            audit_retention,
        } => {
            let listen = match listen.or(file.listen) {
                Some(listen) => listen,
                None => DEFAULT_LISTEN.parse()?,
            };
            let options = server::Options {
                encoded_denials: encoded_denials || file.encoded_denials.unwrap_or(false),
                public_url: public_url
                    .or(file.public_url.clone())
                    .unwrap_or_else(|| format!("http://{listen}")),
                mail_relay: mail_relay.or(file.mail_relay.clone()),
                mail_from: mail_from.or(file.mail_from.clone()),
                invitation_ttl: chrono::Duration::seconds(
                    invitation_ttl
                        .or(file.invitation_ttl_seconds)
                        .map_or(latchkey_core::invitations::DEFAULT_TTL.num_seconds(), |s| {
                            s.min(365 * 86_400) as i64
                        }),
                ),
                limits: file.limits,
                audit: audit::AuditOptions {
                    on: file.audit.unwrap_or(true),
                    log: audit_log.or(file.audit_log.clone()),
                    retention: audit_retention.or(file.audit_retention_seconds).map_or(
                        latchkey_core::audit::DEFAULT_RETENTION,
                        |s| {
                            // Beyond a century is "forever"; chrono's range is far larger.
                            chrono::Duration::seconds(s.min(100 * 365 * 86_400) as i64)
                        },
                    ),
                },
            };
            server::serve(&data_or_default(data), listen, &store_of(store)?, options)
        }
        Command::Init {
            data,
            json,
            root_email,
            store,
        } => {
            let data = data.or(file.data.clone()).ok_or_else(|| {
                anyhow::anyhow!(
                    "init needs --data (or LATCHKEY_DATA, or data in the configuration file)"
                )
            })?;
            datadir::init_command(&data, &store_of(store)?, json, root_email.as_deref())
        }
        Command::Migrate { data, store } => {
            datadir::migrate_command(&data_or_default(data), &store_of(store)?)
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LATCHKEY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result =
        config::Config::load(cli.config.as_deref()).and_then(|file| run(cli.command, file));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("latchkey: {error:#}");
            ExitCode::FAILURE
        }
    }
}
