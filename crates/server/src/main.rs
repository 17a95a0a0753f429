//! The `latchkey` binary: `serve`, `init` and `migrate`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod api;
mod auth;
mod config;
mod datadir;
mod follow;
mod operation;
mod server;

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
        } => {
            let listen = match listen.or(file.listen) {
                Some(listen) => listen,
                None => DEFAULT_LISTEN.parse()?,
            };
            server::serve(
                &data_or_default(data),
                listen,
                &store_of(store)?,
                file.limits,
            )
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
