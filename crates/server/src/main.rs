//! The `latchkey` binary: `serve`, `init`, `migrate`, `backup`, `restore` and
//! `rotate-master-key`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use latchkey_core::identity_mfa::IdentityMfaPolicy;

use latchkey_server::{audit, config, datadir, rotation, server};

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
    /// How log lines are written to standard error: `text` for people, `json` (one object
    /// a line) for a log collector [default: text].
    #[arg(long, global = true, env = "LATCHKEY_LOG_FORMAT", value_enum)]
    log_format: Option<config::LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve IAM and STS on one port, initializing the data directory first if it is new.
    Serve(Box<ServeArgs>),
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
    /// Write a consistent backup of every table to a file (mode 0600), while serving. The
    /// master key is not in it: keep it separately.
    Backup {
        /// The data directory (for the SQLite store) [default: latchkey-data].
        #[arg(long, env = "LATCHKEY_DATA")]
        data: Option<PathBuf>,
        #[arg(long, env = "LATCHKEY_STORE", help = STORE_HELP)]
        store: Option<String>,
        /// The backup file to write (replaced atomically if it exists).
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a backup into a store that was never initialized (SQLite or PostgreSQL),
    /// with the master key it was made under in the data directory or LATCHKEY_MASTER_KEY.
    Restore {
        /// The data directory: its master.key, and for SQLite the new database.
        #[arg(long, env = "LATCHKEY_DATA")]
        data: Option<PathBuf>,
        #[arg(long, env = "LATCHKEY_STORE", help = STORE_HELP)]
        store: Option<String>,
        /// The backup file written by `latchkey backup`.
        #[arg(long)]
        from: PathBuf,
    },
    /// Seal every secret under a new master key while serving, keeping the old one for what
    /// was handed out under it until it is retired (docs/design/master-key-rotation.md).
    RotateMasterKey {
        /// The data directory whose master.key is rotated [default: latchkey-data].
        #[arg(long, env = "LATCHKEY_DATA")]
        data: Option<PathBuf>,
        #[arg(long, env = "LATCHKEY_STORE", help = STORE_HELP)]
        store: Option<String>,
        /// One step of a rotation, for PostgreSQL or LATCHKEY_MASTER_KEY; without it:
        /// stage, promote and re-seal at once (SQLite, key file).
        #[arg(long, value_enum)]
        step: Option<rotation::Step>,
        /// With `--step retire`: retire before everything handed out under the old key
        /// expired, which ends those credentials.
        #[arg(long)]
        force: bool,
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

/// `latchkey serve`'s settings (boxed in [`Command`]: they outweigh every other command's).
#[derive(clap::Args, Debug)]
struct ServeArgs {
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
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, env = "LATCHKEY_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "LATCHKEY_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Whether identity-store users need an authenticator app to sign in: required or
    /// optional [default: required].
    #[arg(long, env = "LATCHKEY_IDENTITY_CENTER_MFA")]
    identity_center_mfa: Option<String>,
    /// Also write every audit event to this file, one CloudTrail record per line.
    #[arg(long, env = "LATCHKEY_AUDIT_LOG")]
    audit_log: Option<PathBuf>,
    /// How long audit events are kept, in seconds [default: 7776000, 90 days].
    #[arg(long, env = "LATCHKEY_AUDIT_RETENTION")]
    audit_retention: Option<u64>,
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
        Command::Serve(serve) => {
            let ServeArgs {
                data,
                listen,
                store,
                encoded_denials,
                public_url,
                mail_relay,
                mail_from,
                invitation_ttl,
                tls_cert,
                tls_key,
                identity_center_mfa,
                audit_log,
                audit_retention,
            } = *serve;
            let identity_mfa = match identity_center_mfa.or(file.identity_center_mfa.clone()) {
                None => IdentityMfaPolicy::default(),
                Some(text) => IdentityMfaPolicy::parse(&text).ok_or_else(|| {
                    anyhow::anyhow!(
                        "identity_center_mfa must be \"required\" or \"optional\", not {text:?}"
                    )
                })?,
            };
            let listen = match listen.or(file.listen) {
                Some(listen) => listen,
                None => DEFAULT_LISTEN.parse()?,
            };
            let tls = match (
                tls_cert.or(file.tls_cert.clone()),
                tls_key.or(file.tls_key.clone()),
            ) {
                (Some(cert), Some(key)) => Some(server::TlsFiles { cert, key }),
                (None, None) => None,
                _ => {
                    anyhow::bail!("TLS needs both a certificate and its key (tls_cert and tls_key)")
                }
            };
            let scheme = if tls.is_some() { "https" } else { "http" };
            let options = server::Options {
                encoded_denials: encoded_denials || file.encoded_denials.unwrap_or(false),
                public_url: public_url
                    .or(file.public_url.clone())
                    .unwrap_or_else(|| format!("{scheme}://{listen}")),
                mail_relay: mail_relay.or(file.mail_relay.clone()),
                mail_from: mail_from.or(file.mail_from.clone()),
                invitation_ttl: chrono::Duration::seconds(
                    invitation_ttl
                        .or(file.invitation_ttl_seconds)
                        .map_or(latchkey_core::invitations::DEFAULT_TTL.num_seconds(), |s| {
                            s.min(365 * 86_400) as i64
                        }),
                ),
                identity_mfa,
                limits: file.limits,
                throttle: file.throttle,
                tls,
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
        Command::RotateMasterKey {
            data,
            store,
            step,
            force,
        } => rotation::rotate_command(&data_or_default(data), &store_of(store)?, step, force),
        Command::Backup { data, store, out } => {
            datadir::backup_command(&data_or_default(data), &store_of(store)?, &out)
        }
        Command::Restore { data, store, from } => {
            datadir::restore_command(&data_or_default(data), &store_of(store)?, &from)
        }
    }
}

/// Logs to standard error, filtered by `LATCHKEY_LOG` (default `info`).
fn start_logging(format: config::LogFormat) {
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LATCHKEY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr);
    match format {
        config::LogFormat::Text => logs.init(),
        // One flat object a line: the event's fields beside its timestamp, level and target.
        config::LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = config::Config::load(cli.config.as_deref()).and_then(|file| {
        start_logging(cli.log_format.or(file.log_format).unwrap_or_default());
        run(cli.command, file)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("latchkey: {error:#}");
            ExitCode::FAILURE
        }
    }
}
