//! The data directory: the SQLite database and the master key file.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use latchkey_core::Directory;
use latchkey_core::directory::Initialized;
use latchkey_core::seal::MasterKey;
use latchkey_store_sqlite::SqliteStore;

const DATABASE_FILE: &str = "latchkey.db";
const MASTER_KEY_FILE: &str = "master.key";
/// Takes precedence over the master key file; for deployments that keep keys out of disks.
const MASTER_KEY_ENV: &str = "LATCHKEY_MASTER_KEY";

fn database_path(data: &Path) -> PathBuf {
    data.join(DATABASE_FILE)
}

/// The master key from the environment, the key file, or (for a new directory) a new key
/// file created with mode 0600.
fn master_key(data: &Path, may_create: bool) -> anyhow::Result<MasterKey> {
    if let Ok(text) = std::env::var(MASTER_KEY_ENV) {
        return MasterKey::from_base64(&text)
            .with_context(|| format!("{MASTER_KEY_ENV} is not valid"));
    }
    let path = data.join(MASTER_KEY_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => MasterKey::from_base64(&text)
            .with_context(|| format!("{} is not valid", path.display())),
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
            Ok(key)
        }
        Err(error) => Err(error).with_context(|| {
            format!(
                "cannot read the master key {} (or set {MASTER_KEY_ENV})",
                path.display()
            )
        }),
    }
}

/// Opens the directory's database, creating the directory, key and database if they do not
/// exist yet.
pub fn open(data: &Path) -> anyhow::Result<Directory> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data)
        .with_context(|| format!("cannot create the data directory {}", data.display()))?;
    let new_database = !database_path(data).exists();
    let master = master_key(data, new_database)?;
    if new_database {
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
    let store = SqliteStore::open(&database_path(data))
        .with_context(|| format!("cannot open {}", database_path(data).display()))?;
    Directory::open(Arc::new(store), master).context("cannot load the data directory")
}

/// `latchkey init`: refuses a directory that already holds a database, so that it can
/// never overwrite or re-key existing data.
pub fn init_command(data: &Path, json: bool, root_email: Option<&str>) -> anyhow::Result<()> {
    if database_path(data).exists() || data.join(MASTER_KEY_FILE).exists() {
        bail!(
            "{} is already initialized (it holds a latchkey database or master key); nothing was changed",
            data.display()
        );
    }
    let directory = open(data)?;
    let init = directory
        .initialize(root_email)
        .map_err(|e| anyhow::anyhow!("initialization failed: {}", e.message))?;
    print_credentials(&init, json);
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
