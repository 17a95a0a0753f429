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
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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
        toml::from_str(&text)
            .with_context(|| format!("{} is not a valid configuration", path.display()))
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
        assert!(toml::from_str::<Config>("listne = \"x\"").is_err());
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
