//! The configuration file: the same settings as the command line and the environment.
//!
//! Precedence, highest first: a command-line flag, its environment variable, the file, the
//! built-in default. The file is named by `--config` or `LATCHKEY_CONFIG`; without either,
//! `latchkey.toml` in the working directory is read if it exists.
//!
//! ```toml
//! data = "/var/lib/latchkey"
//! listen = "0.0.0.0:8765"
//! store = "postgres://latchkey@db.internal/latchkey"
//! encoded_denials = true
//! public_url = "https://latchkey.example.com"
//! mail_relay = "smtp://mail.internal:25"
//! mail_from = "latchkey <latchkey@example.com>"
//! invitation_ttl_seconds = 604800
//! tls_cert = "/etc/latchkey/cert.pem"
//! tls_key = "/etc/latchkey/key.pem"
//! log_format = "json"
//! identity_center_mfa = "required"   # or "optional"
//! audit_log = "/var/log/latchkey/audit.jsonl"
//! audit_retention_seconds = 7776000   # 90 days, the default
//! audit = true                        # the default; false records no events at all
//!
//! # What one client may make the server hold; these are the defaults
//! # (docs/design/input-limits.md). Only the file sets them.
//! [limits]
//! max_body_bytes = 1048576
//! max_connections = 1024
//! header_read_timeout_secs = 30
//! request_timeout_secs = 60
//!
//! # Failed authentications allowed before a failing request is answered Throttling;
//! # these are the defaults (docs/design/throttling.md). Only the file sets them.
//! [throttle.source_address]
//! burst = 100
//! per_minute = 60
//! [throttle.access_key_id]
//! burst = 20
//! per_minute = 12
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

/// The file read when neither `--config` nor `LATCHKEY_CONFIG` names one.
pub const DEFAULT_CONFIG_FILE: &str = "latchkey.toml";

#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub data: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub store: Option<String>,
    pub encoded_denials: Option<bool>,
    pub public_url: Option<String>,
    pub mail_relay: Option<String>,
    pub mail_from: Option<String>,
    pub invitation_ttl_seconds: Option<u64>,
    /// The PEM certificate chain and private key to serve HTTPS with (docs/design/tls.md).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub log_format: Option<LogFormat>,
    pub identity_center_mfa: Option<String>,
    pub audit: Option<bool>,
    pub audit_log: Option<PathBuf>,
    pub audit_retention_seconds: Option<u64>,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub throttle: Throttle,
}

/// How log lines are written: for people, or one JSON object a line for a collector.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Failed authentications allowed per source address and per access key id before a failing
/// request is answered Throttling (docs/design/throttling.md). Valid requests are never
/// throttled.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Throttle {
    /// Generous: many clients may share an address behind NAT.
    pub source_address: FailureRate,
    /// A client with a wrong secret retries a few times per call; a guesser needs millions.
    pub access_key_id: FailureRate,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            source_address: FailureRate {
                burst: 100,
                per_minute: 60,
            },
            access_key_id: FailureRate {
                burst: 20,
                per_minute: 12,
            },
        }
    }
}

/// A token bucket of failures: `burst` at once, then `per_minute` sustained.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FailureRate {
    pub burst: u32,
    pub per_minute: u32,
}

impl FailureRate {
    pub fn limit(&self) -> crate::throttle::Limit {
        crate::throttle::Limit {
            burst: f64::from(self.burst),
            per_second: f64::from(self.per_minute) / 60.0,
        }
    }
}

impl Throttle {
    /// A zero would throttle every failure forever; better caught at start-up.
    fn check(&self) -> anyhow::Result<()> {
        for (name, rate) in [
            ("source_address", self.source_address),
            ("access_key_id", self.access_key_id),
        ] {
            anyhow::ensure!(
                rate.burst > 0 && rate.per_minute > 0,
                "throttle.{name}.burst and throttle.{name}.per_minute must be greater than 0"
            );
        }
        Ok(())
    }
}

/// Bounds on what a client can make the server read, hold and wait for.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// The largest request body read; a larger one is answered 413 unread. 1 MiB holds the
    /// largest legitimate IAM request (a 131,072-character policy document, URL-encoded) with
    /// room to spare.
    pub max_body_bytes: usize,
    /// Connections served at once; beyond it the server stops accepting and new clients wait
    /// in the listen backlog.
    pub max_connections: usize,
    /// How long a client has to send a request's line and headers, also the idle time allowed
    /// between requests on a kept-alive connection; then the connection is closed.
    pub header_read_timeout_secs: u64,
    /// How long a client has to send the body once the headers are in.
    pub request_timeout_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1024 * 1024,
            max_connections: 1024,
            header_read_timeout_secs: 30,
            request_timeout_secs: 60,
        }
    }
}

impl Limits {
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// Zero would refuse every request or connection, or (for a timeout) none; either is a
    /// mistake better caught at start-up.
    fn check(&self) -> anyhow::Result<()> {
        for (name, value) in [
            ("max_body_bytes", self.max_body_bytes as u64),
            ("max_connections", self.max_connections as u64),
            ("header_read_timeout_secs", self.header_read_timeout_secs),
            ("request_timeout_secs", self.request_timeout_secs),
        ] {
            anyhow::ensure!(value > 0, "limits.{name} must be greater than 0");
        }
        Ok(())
    }
}

impl Config {
    /// Reads the named file, or the default file if it exists; a named file must exist.
    pub fn load(named: Option<&Path>) -> anyhow::Result<Config> {
        let (path, required) = match named {
            Some(path) => (path, true),
            None => (Path::new(DEFAULT_CONFIG_FILE), false),
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if !required && error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Config::default());
            }
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read {}", path.display()));
            }
        };
        let config: Config = toml::from_str(&text)
            .with_context(|| format!("{} is not a valid configuration", path.display()))?;
        config
            .limits
            .check()
            .and_then(|()| config.throttle.check())
            .with_context(|| format!("{} is not a valid configuration", path.display()))?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_setting_and_refuses_unknown_ones() {
        let config: Config = toml::from_str(
            "data = \"/srv/lk\"\nlisten = \"0.0.0.0:9000\"\nstore = \"postgres://u@h/db\"\nencoded_denials = true\n",
        )
        .unwrap();
        assert_eq!(config.data.as_deref(), Some(Path::new("/srv/lk")));
        assert_eq!(config.listen, Some("0.0.0.0:9000".parse().unwrap()));
        assert_eq!(config.store.as_deref(), Some("postgres://u@h/db"));
        assert_eq!(config.encoded_denials, Some(true));
        assert_eq!(config.limits, Limits::default());
        assert!(toml::from_str::<Config>("listne = \"x\"").is_err());
    }

    #[test]
    fn limits_default_one_by_one_and_must_not_be_zero() {
        let config: Config = toml::from_str("[limits]\nheader_read_timeout_secs = 2\n").unwrap();
        assert_eq!(config.limits.header_read_timeout(), Duration::from_secs(2));
        assert_eq!(
            config.limits.max_body_bytes,
            Limits::default().max_body_bytes
        );
        assert!(toml::from_str::<Config>("[limits]\nmax_body = 1\n").is_err());

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[limits]\nmax_connections = 0\n").unwrap();
        let error = Config::load(Some(&file)).unwrap_err();
        assert!(
            format!("{error:#}").contains("limits.max_connections must be greater than 0"),
            "{error:#}"
        );
    }

    #[test]
    fn throttle_limits_default_and_must_not_be_zero() {
        assert_eq!(
            toml::from_str::<Config>("").unwrap().throttle,
            Throttle::default()
        );
        let config: Config = toml::from_str(
            "log_format = \"json\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n\
             [throttle.access_key_id]\nburst = 3\nper_minute = 6\n",
        )
        .unwrap();
        assert_eq!(config.log_format, Some(LogFormat::Json));
        assert_eq!(config.tls_cert.as_deref(), Some(Path::new("c.pem")));
        assert_eq!(config.throttle.access_key_id.limit().burst, 3.0);
        assert_eq!(config.throttle.access_key_id.limit().per_second, 0.1);
        assert_eq!(
            config.throttle.source_address,
            Throttle::default().source_address
        );
        // A rate must name both numbers.
        assert!(toml::from_str::<Config>("[throttle.access_key_id]\nburst = 3\n").is_err());

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[throttle.source_address]\nburst = 0\nper_minute = 1\n",
        )
        .unwrap();
        let error = Config::load(Some(&file)).unwrap_err();
        assert!(
            format!("{error:#}").contains("throttle.source_address.burst"),
            "{error:#}"
        );
    }

    #[test]
    fn a_named_file_must_exist_the_default_need_not() {
        assert!(Config::load(Some(Path::new("/nonexistent/latchkey.toml"))).is_err());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:1\"").unwrap();
        assert_eq!(
            Config::load(Some(&file)).unwrap().listen,
            Some("127.0.0.1:1".parse().unwrap())
        );
    }
}
