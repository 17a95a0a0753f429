//! The data directory and the store: the master key file, and either the SQLite database
//! in the data directory (the default) or a PostgreSQL database shared by several instances
//! (`--store postgres://...`), which then holds everything but the master key.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use latchkey_core::Directory;
use latchkey_core::backup::Backup;
use latchkey_core::directory::Initialized;
use latchkey_core::seal::{Keyring, MasterKey};
use latchkey_core::store::Store;
use latchkey_store_postgres::PostgresStore;
use latchkey_store_sqlite::SqliteStore;

const DATABASE_FILE: &str = "latchkey.db";
const MASTER_KEY_FILE: &str = "master.key";
/// Takes precedence over the master key file; for deployments that keep keys out of disks.
pub const MASTER_KEY_ENV: &str = "LATCHKEY_MASTER_KEY";

fn database_path(data: &Path) -> PathBuf {
    data.join(DATABASE_FILE)
}

/// The master keyring from the environment, the key file, or (for a new directory) a new key
/// file with one new key, created with mode 0600.
pub fn master_key(data: &Path, may_create: bool) -> anyhow::Result<Keyring> {
    if let Ok(text) = std::env::var(MASTER_KEY_ENV) {
        return Keyring::from_text(&text).with_context(|| format!("{MASTER_KEY_ENV} is not valid"));
    }
    let path = master_key_path(data);
    match fs::read_to_string(&path) {
        Ok(text) => {
            Keyring::from_text(&text).with_context(|| format!("{} is not valid", path.display()))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && may_create => {
            let key = MasterKey::generate();
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            file.write_all(key.to_base64().as_bytes())?;
            file.sync_all()?;
            Ok(Keyring::from(key))
        }
        Err(error) => Err(error).with_context(|| {
            format!(
                "cannot read the master key {} (or set {MASTER_KEY_ENV})",
                path.display()
            )
        }),
    }
}

pub fn master_key_path(data: &Path) -> PathBuf {
    data.join(MASTER_KEY_FILE)
}

/// Whether the master key comes from `LATCHKEY_MASTER_KEY` rather than the key file.
pub fn master_key_from_env() -> bool {
    std::env::var_os(MASTER_KEY_ENV).is_some()
}

/// Where the state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// `latchkey.db` in the data directory.
    Sqlite,
    /// A PostgreSQL database, by URL (`postgres://user@host/db`).
    Postgres(String),
}

impl StoreLocation {
    /// `--store`: absent or `sqlite` for the data directory's database, a `postgres://` or
    /// `postgresql://` URL for PostgreSQL.
    pub fn parse(store: Option<&str>) -> anyhow::Result<Self> {
        match store.map(str::trim) {
            None | Some("") | Some("sqlite") => Ok(StoreLocation::Sqlite),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(StoreLocation::Postgres(url.to_owned()))
            }
            Some(other) => bail!(
                "unsupported store {:?}: use sqlite (the default) or a postgres:// URL",
                redact(other)
            ),
        }
    }

    /// How the store is named in messages: without a password.
    pub fn describe(&self, data: &Path) -> String {
        match self {
            StoreLocation::Sqlite => database_path(data).display().to_string(),
            StoreLocation::Postgres(url) => redact(url),
        }
    }
}

/// A URL with its password, if any, replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        _ => url.to_owned(),
    }
}

fn create_data_dir(data: &Path) -> anyhow::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data)
        .with_context(|| format!("cannot create the data directory {}", data.display()))
}

/// Opens the store chosen with [`select_store`], creating what does not exist yet: for
/// SQLite the directory, key and database; for PostgreSQL the schema, and the directory and
/// key if the database is not initialized yet.
pub fn open(data: &Path, store: &StoreLocation) -> anyhow::Result<Directory> {
    match store {
        StoreLocation::Sqlite => open_sqlite(data),
        StoreLocation::Postgres(url) => open_postgres(data, url),
    }
}

fn open_sqlite(data: &Path) -> anyhow::Result<Directory> {
    create_data_dir(data)?;
    let new_database = !database_path(data).exists();
    let master = master_key(data, new_database)?;
    let store = open_sqlite_store(data)?;
    Directory::open(Arc::new(store), master).context("cannot load the data directory")
}

/// Opens the data directory's database, creating it (and restricting the directory) if it
/// does not exist yet.
fn open_sqlite_store(data: &Path) -> anyhow::Result<SqliteStore> {
    create_data_dir(data)?;
    if !database_path(data).exists() {
        // The directory may have existed before (an empty folder the operator made); it
        // holds the master key and the database, so only the owner may enter it.
        fs::set_permissions(data, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict {}", data.display()))?;
        // SQLite creates its WAL and shared-memory files with the database's mode, so
        // creating the database 0600 keeps all three private.
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(database_path(data))
            .with_context(|| format!("cannot create {}", database_path(data).display()))?;
    }
    SqliteStore::open(&database_path(data))
        .with_context(|| format!("cannot open {}", database_path(data).display()))
}

fn open_postgres_store(url: &str) -> anyhow::Result<PostgresStore> {
    PostgresStore::open(url).with_context(|| format!("cannot open the store {}", redact(url)))
}

fn open_postgres(data: &Path, url: &str) -> anyhow::Result<Directory> {
    let store = open_postgres_store(url)?;
    let initialized = store
        .is_initialized()
        .with_context(|| format!("cannot read the store {}", redact(url)))?;
    // Every instance on the database must use the same master key: only the first, which
    // initializes the database, may make one.
    create_data_dir(data)?;
    let master = master_key(data, !initialized)?;
    Directory::open(Arc::new(store), master)
        .with_context(|| format!("cannot load the store {}", redact(url)))
}

/// `latchkey init`: refuses a directory that already holds a database (SQLite), or a
/// database that already holds an account (PostgreSQL), so that it can never overwrite or
/// re-key existing data. With PostgreSQL the data directory keeps only the master key; a key
/// already there (or in `LATCHKEY_MASTER_KEY`) is used, otherwise one is made.
pub fn init_command(
    data: &Path,
    store: &StoreLocation,
    json: bool,
    root_email: Option<&str>,
) -> anyhow::Result<()> {
    let directory = match store {
        StoreLocation::Sqlite => {
            if database_path(data).exists() || data.join(MASTER_KEY_FILE).exists() {
                bail!(
                    "{} is already initialized (it holds a latchkey database or master key); nothing was changed",
                    data.display()
                );
            }
            open_sqlite(data)?
        }
        StoreLocation::Postgres(url) => {
            let store = open_postgres_store(url)?;
            if store
                .is_initialized()
                .with_context(|| format!("cannot read the store {}", redact(url)))?
            {
                bail!(
                    "the store {} is already initialized (it holds an account); nothing was changed",
                    redact(url)
                );
            }
            create_data_dir(data)?;
            let master = master_key(data, true)?;
            Directory::open(Arc::new(store), master)
                .with_context(|| format!("cannot load the store {}", redact(url)))?
        }
    };
    let init = directory
        .initialize(root_email)
        .map_err(|e| anyhow::anyhow!("initialization failed: {}", e.message))?;
    print_credentials(&init, json);
    Ok(())
}

/// `latchkey migrate`: brings the store's schema up to date and prints its version.
#[allow(clippy::print_stdout)]
pub fn migrate_command(data: &Path, store: &StoreLocation) -> anyhow::Result<()> {
    let version = match store {
        StoreLocation::Sqlite => {
            let path = database_path(data);
            if !path.exists() {
                bail!(
                    "{} holds no latchkey database; run `latchkey init` first",
                    data.display()
                );
            }
            SqliteStore::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
            let connection = rusqlite::Connection::open_with_flags(
                &path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .with_context(|| format!("cannot open {}", path.display()))?;
            connection
                .query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0))
                .with_context(|| format!("cannot read the schema version of {}", path.display()))?
        }
        StoreLocation::Postgres(url) => {
            let store = open_postgres_store(url)?;
            let version = store
                .schema_version()
                .with_context(|| format!("cannot read the schema version of {}", redact(url)))?;
            version as i64
        }
    };
    println!("{}: schema version {version}", store.describe(data));
    Ok(())
}

/// The store for a command that reads or fills it without serving: for SQLite, the data
/// directory's database, which must exist unless `may_create`.
pub fn open_store(
    data: &Path,
    store: &StoreLocation,
    may_create: bool,
) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match store {
        StoreLocation::Sqlite => {
            if !may_create && !database_path(data).exists() {
                bail!("{} holds no latchkey database", data.display());
            }
            Arc::new(open_sqlite_store(data)?)
        }
        StoreLocation::Postgres(url) => Arc::new(open_postgres_store(url)?),
    })
}

/// `latchkey backup`: every table, read in one read transaction while instances keep
/// serving, written to `out` (mode 0600) by replacing it atomically. The master key is not
/// needed and not included.
#[allow(clippy::print_stdout)]
pub fn backup_command(data: &Path, store: &StoreLocation, out: &Path) -> anyhow::Result<()> {
    let opened = open_store(data, store, false)?;
    let backup = Backup::take(&*opened)
        .with_context(|| format!("cannot read the store {}", store.describe(data)))?;
    if backup.contents.accounts.is_empty() {
        bail!(
            "the store {} is not initialized; there is nothing to back up",
            store.describe(data)
        );
    }
    write_private_file(out, &backup.to_json())?;
    let contents = &backup.contents;
    let key = contents
        .master_key_check
        .as_deref()
        .and_then(latchkey_core::seal::key_id_of)
        .map_or_else(
            || "the data's original master key".to_owned(),
            |id| format!("master key {id}"),
        );
    println!(
        "backed up {} as of change {}: {} accounts, {} users, {} access keys, {} identity store users, {} permission sets, to {}; restoring it needs {key}",
        store.describe(data),
        contents.seq,
        contents.accounts.len(),
        contents.users.len(),
        contents.access_keys.len(),
        contents.identity_store_users.len(),
        contents.permission_sets.len(),
        out.display()
    );
    Ok(())
}

/// Writes `bytes` to `path` with mode 0600: into a new file beside it, synced, then renamed
/// over it, so that `path` is never half-written.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let file_name = path
        .file_name()
        .with_context(|| format!("{} is not a file name", path.display()))?;
    let mut partial_name = std::ffi::OsString::from(".");
    partial_name.push(file_name);
    partial_name.push(format!(".{}.partial", std::process::id()));
    let partial = path.with_file_name(partial_name);
    let written = (|| -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&partial)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&partial, path)
    })();
    if let Err(error) = written {
        let _ = fs::remove_file(&partial);
        return Err(error).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(())
}

/// `latchkey restore`: fills a store that was never initialized from a backup, in one
/// transaction, after checking that the master key (the data directory's key file or
/// `LATCHKEY_MASTER_KEY`) opens every sealed secret in it. An initialized store is refused
/// and left as it was.
#[allow(clippy::print_stdout)]
pub fn restore_command(data: &Path, store: &StoreLocation, from: &Path) -> anyhow::Result<()> {
    let bytes = fs::read(from).with_context(|| format!("cannot read {}", from.display()))?;
    let backup = Backup::from_json(&bytes).with_context(|| from.display().to_string())?;
    let master = master_key(data, false).context(
        "restore needs the master key the backup was made with, in the data directory's \
         master.key or LATCHKEY_MASTER_KEY",
    )?;
    backup.check_master_key(&master)?;
    let opened = open_store(data, store, true)?;
    let seq = backup
        .restore(&*opened)
        .with_context(|| format!("cannot restore into {}", store.describe(data)))?;
    println!(
        "restored {} into {} (change {seq})",
        from.display(),
        store.describe(data)
    );
    Ok(())
}

/// Prints the credentials made at initialization: the only time they are ever shown.
#[allow(clippy::print_stdout)]
pub fn print_credentials(init: &Initialized, json: bool) {
    if json {
        let object = serde_json::json!({
            "AccountId": init.account_id,
            "UserName": init.user_name,
            "UserArn": init.user_arn,
            "AccessKeyId": init.access_key_id,
            "SecretAccessKey": init.secret_access_key.as_str(),
            "ConsolePassword": init.console_password.as_str(),
            "RootEmail": init.root_email,
            "RootPassword": init.root_password.as_str(),
        });
        println!("{object}");
    } else {
        println!(
            "latchkey initialized a new account. These credentials are shown only now; store them safely.\n\n\
             Account ID:         {}\n\
             Administrator:      {} ({})\n\
             Console password:   {}\n\
             Access key ID:      {}\n\
             Secret access key:  {}\n\n\
             Root user e-mail:   {}\n\
             Root user password: {}\n\
             (The root user has no access keys; use the administrator for programmatic access.)\n",
            init.account_id,
            init.user_name,
            init.user_arn,
            init.console_password.as_str(),
            init.access_key_id,
            init.secret_access_key.as_str(),
            init.root_email,
            init.root_password.as_str(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_is_sqlite_unless_a_postgres_url_is_given() {
        assert_eq!(StoreLocation::parse(None).unwrap(), StoreLocation::Sqlite);
        assert_eq!(
            StoreLocation::parse(Some("sqlite")).unwrap(),
            StoreLocation::Sqlite
        );
        assert_eq!(
            StoreLocation::parse(Some("postgres://u@h/db")).unwrap(),
            StoreLocation::Postgres("postgres://u@h/db".into())
        );
        assert_eq!(
            StoreLocation::parse(Some("postgresql://u@h/db")).unwrap(),
            StoreLocation::Postgres("postgresql://u@h/db".into())
        );
        let error = StoreLocation::parse(Some("mysql://u:secret@h/db")).unwrap_err();
        assert!(!error.to_string().contains("secret"), "{error}");
    }

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            redact("postgres://app:s3cr3t@db.internal:5432/latchkey?sslmode=disable"),
            "postgres://app:***@db.internal:5432/latchkey?sslmode=disable"
        );
        assert_eq!(
            redact("postgres://app@db/latchkey"),
            "postgres://app@db/latchkey"
        );
        assert_eq!(redact("postgres://db/latchkey"), "postgres://db/latchkey");
    }
}
