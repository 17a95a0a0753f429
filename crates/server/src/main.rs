//! The `latchkey` binary: `serve` and `init`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod api;
mod auth;
mod datadir;
mod operation;
mod server;

/// Where data lives when `--data` is not given.
const DEFAULT_DATA_DIR: &str = "latchkey-data";
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
        Command::Serve { data, listen } => server::serve(&data, listen),
        Command::Init {
            data,
            json,
            root_email,
        } => datadir::init_command(&data, json, root_email.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("latchkey: {error:#}");
            ExitCode::FAILURE
        }
    }
}
