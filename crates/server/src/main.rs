//! The `latchkey` binary: `serve`, `init` and `migrate`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod api;
mod auth;
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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve IAM and STS on one port, initializing the data directory first if it is new.
    Serve {
        /// The data directory.
        #[arg(long, env = "LATCHKEY_DATA", default_value = DEFAULT_DATA_DIR)]
        data: PathBuf,
        /// The address to listen on.
        #[arg(long, env = "LATCHKEY_LISTEN", default_value = DEFAULT_LISTEN)]
        listen: SocketAddr,
        #[arg(long, env = "LATCHKEY_STORE", help = STORE_HELP)]
        store: Option<String>,
    },
    /// Initialize a new data directory and print the administrator's credentials once.
    Init {
        /// The data directory; it must not hold a latchkey database yet.
        #[arg(long, env = "LATCHKEY_DATA")]
        data: PathBuf,
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
        /// The data directory (for the SQLite store).
        #[arg(long, env = "LATCHKEY_DATA", default_value = DEFAULT_DATA_DIR)]
        data: PathBuf,
        #[arg(long, env = "LATCHKEY_STORE", help = STORE_HELP)]
        store: Option<String>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LATCHKEY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match Cli::parse().command {
        Command::Serve {
            data,
            listen,
            store,
        } => datadir::StoreLocation::parse(store.as_deref()).and_then(|store| {
            datadir::select_store(store);
            server::serve(&data, listen)
        }),
        Command::Init {
            data,
            json,
            root_email,
            store,
        } => datadir::StoreLocation::parse(store.as_deref())
            .and_then(|store| datadir::init_command(&data, &store, json, root_email.as_deref())),
        Command::Migrate { data, store } => datadir::StoreLocation::parse(store.as_deref())
            .and_then(|store| datadir::migrate_command(&data, &store)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("latchkey: {error:#}");
            ExitCode::FAILURE
        }
    }
}
