//! Starts the real `latchkey` binary once per test binary and builds AWS SDK clients for it.
//!
//! # Process lifetime
//!
//! The server is shared by every test in this binary through a `static`, and statics are
//! never dropped, so a `Drop` guard cannot be relied on to stop it. Instead the server runs
//! under a tiny `sh` watchdog (see [`WATCHDOG`]) whose standard input is a pipe from this
//! test process. The write end lives in the static; whenever this process ends — tests
//! passed, a test panicked, `process::exit`, or even SIGKILL — the kernel closes it, the
//! watchdog reads end-of-file, sends the server SIGTERM and removes the temporary data
//! directory once the server has exited. No orphan server survives the test run, and no
//! `unsafe` (`pre_exec`, `prctl`) is needed. Ctrl-C reaches the server directly, as it is in
//! the same process group.
//!
//! Each test builds its own SDK clients (they hold connection pools tied to the test's own
//! Tokio runtime) and creates uniquely named users with [`unique_name`], so tests are
//! independent of each other and of their order.

use std::error::Error;
use std::fmt::Debug;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::result::CreateUnhandledError;

/// The binary under test, built by Cargo for this integration test.
const BINARY: &str = env!("CARGO_BIN_EXE_latchkey");
/// How long the server may take to answer `/healthz`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// Attempts at starting the server, each on a fresh free port (another process may take the
/// port between our probe and the server's bind).
const START_ATTEMPTS: u32 = 3;
/// The region clients sign for unless a test asks for another.
pub const DEFAULT_REGION: &str = "us-east-1";

/// `sh -c WATCHDOG latchkey-e2e BINARY DATA LISTEN CLEANUP`: runs the server and stops it
/// when our end of the watchdog's standard input closes; exits with the server's status.
const WATCHDOG: &str = r#"
exec 3<&0 </dev/null
"$1" serve --data "$2" --listen "$3" 3<&- >/dev/null &
server=$!
{ read -r _line <&3; kill -TERM "$server"; } 2>/dev/null &
watcher=$!
exec 3<&-
wait "$server"
status=$?
kill "$watcher" 2>/dev/null
rm -rf "$4"
exit "$status"
"#;

/// A long-term access key pair.
#[derive(Clone, Debug)]
pub struct Keys {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// The running server and the administrator `latchkey init` created.
#[derive(Debug)]
pub struct Server {
    url: String,
    pub account_id: String,
    pub admin: Keys,
    /// The watchdog; holding it keeps its standard input (and so the server) open.
    _watchdog: Child,
}

static SERVER: OnceLock<Server> = OnceLock::new();

/// The server shared by this test binary, started on first use.
pub fn server() -> &'static Server {
    SERVER.get_or_init(Server::start)
}

/// A name no other test in this run uses: `prefix-N`.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

impl Server {
    fn start() -> Server {
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            match Server::try_start() {
                Ok(server) => return server,
                Err(error) => failures.push(error),
            }
        }
        panic!("latchkey did not start: {failures:#?}");
    }

    fn try_start() -> Result<Server, String> {
        let root = tempfile::Builder::new()
            .prefix("latchkey-e2e-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let data = root.path().join("data");
        let init = init(&data)?;
        let port = free_port()?;
        let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("latchkey-e2e")
            .arg(BINARY)
            .arg(&data)
            .arg(listen.to_string())
            .arg(root.path())
            .env(
                "LATCHKEY_LOG",
                std::env::var("LATCHKEY_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .env_remove("LATCHKEY_MASTER_KEY")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot run sh: {e}"))?;
        if let Err(error) = wait_until_healthy(listen, &mut watchdog) {
            // Closing the pipe stops the server; wait so that it is gone before a retry.
            drop(watchdog.stdin.take());
            let _ = watchdog.wait();
            return Err(error);
        }
        // From here on the watchdog removes the directory when the server stops.
        let _ = root.keep();
        Ok(Server {
            url: format!("http://{listen}"),
            account_id: init.account_id,
            admin: init.keys,
            _watchdog: watchdog,
        })
    }

    /// SDK configuration for `keys` signing for `region`, pointed at this server.
    pub async fn sdk_config(&self, keys: &Keys, region: &'static str) -> SdkConfig {
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.url)
            .region(Region::new(region))
            .credentials_provider(Credentials::new(
                &keys.access_key_id,
                &keys.secret_access_key,
                None,
                None,
                "test",
            ))
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(Duration::from_secs(30))
                    .build(),
            )
            .http_client(http_client)
            .load()
            .await
    }

    pub async fn iam(&self, keys: &Keys) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk_config(keys, DEFAULT_REGION).await)
    }

    pub async fn sts(&self, keys: &Keys) -> aws_sdk_sts::Client {
        self.sts_in(keys, DEFAULT_REGION).await
    }

    pub async fn sts_in(&self, keys: &Keys, region: &'static str) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::new(&self.sdk_config(keys, region).await)
    }

    pub async fn admin_identitystore(&self) -> aws_sdk_identitystore::Client {
        aws_sdk_identitystore::Client::new(&self.sdk_config(&self.admin, DEFAULT_REGION).await)
    }

    pub async fn admin_sso_admin(&self) -> aws_sdk_ssoadmin::Client {
        aws_sdk_ssoadmin::Client::new(&self.sdk_config(&self.admin, DEFAULT_REGION).await)
    }

    pub async fn admin_iam(&self) -> aws_sdk_iam::Client {
        self.iam(&self.admin).await
    }

    /// The ARN of the user `name` (path `/`) in this server's account.
    pub fn user_arn(&self, name: &str) -> String {
        format!("arn:aws:iam::{}:user/{name}", self.account_id)
    }

    /// Creates the user `name` and an access key for it, as the administrator.
    pub async fn create_user_with_key(&self, name: &str) -> Keys {
        let iam = self.admin_iam().await;
        iam.create_user()
            .user_name(name)
            .send()
            .await
            .expect("CreateUser");
        create_access_key(&iam, Some(name)).await
    }
}

/// Creates an access key for `user` (or the caller when `None`) and checks its shape.
pub async fn create_access_key(iam: &aws_sdk_iam::Client, user: Option<&str>) -> Keys {
    let output = iam
        .create_access_key()
        .set_user_name(user.map(str::to_owned))
        .send()
        .await
        .expect("CreateAccessKey");
    let key = output
        .access_key()
        .expect("CreateAccessKey returns AccessKey");
    if let Some(user) = user {
        assert_eq!(key.user_name(), user);
    }
    assert!(
        key.access_key_id().starts_with("AKIA") && key.access_key_id().len() == 20,
        "access key id {:?}",
        key.access_key_id()
    );
    assert_eq!(key.secret_access_key().len(), 40);
    assert_eq!(key.status(), &aws_sdk_iam::types::StatusType::Active);
    assert!(key.create_date().is_some());
    Keys {
        access_key_id: key.access_key_id().to_owned(),
        secret_access_key: key.secret_access_key().to_owned(),
    }
}

/// How a call that should fail failed.
#[derive(Debug)]
pub struct Failure {
    /// The AWS error code, e.g. `NoSuchEntity`.
    pub code: String,
    /// The HTTP status of the response.
    pub status: u16,
    /// The error message.
    pub message: String,
}

/// The error code and HTTP status of a call that must have failed with a service error.
pub fn failure<T, E>(result: Result<T, SdkError<E>>) -> Failure
where
    T: Debug,
    E: ProvideErrorMetadata + CreateUnhandledError + Error + Send + Sync + 'static,
{
    let error = match result {
        Ok(output) => panic!("the call succeeded but should have failed: {output:?}"),
        Err(error) => error,
    };
    let status = error
        .raw_response()
        .map(|response| response.status().as_u16());
    let described = format!("{}", aws_sdk_iam::error::DisplayErrorContext(&error));
    let service_error = error.into_service_error();
    let code = service_error
        .meta()
        .code()
        .unwrap_or_else(|| panic!("the error has no AWS error code: {described}"))
        .to_owned();
    let message = service_error
        .meta()
        .message()
        .unwrap_or_default()
        .to_owned();
    let status = status.unwrap_or_else(|| panic!("the error has no HTTP response: {described}"));
    Failure {
        code,
        status,
        message,
    }
}

/// Asserts that `result` failed with `code` and HTTP `status`.
pub fn assert_fails<T, E>(result: Result<T, SdkError<E>>, code: &str, status: u16)
where
    T: Debug,
    E: ProvideErrorMetadata + CreateUnhandledError + Error + Send + Sync + 'static,
{
    let failure = failure(result);
    assert_eq!(
        (failure.code.as_str(), failure.status),
        (code, status),
        "expected {code} ({status})"
    );
}

/// Asserts that `result` failed with AccessDenied (403) because no identity-based policy
/// allows `action` on `resource` for the user `caller`, with AWS's message.
pub fn assert_denied<T, E>(
    result: Result<T, SdkError<E>>,
    caller: &str,
    action: &str,
    resource: &str,
) where
    T: Debug,
    E: ProvideErrorMetadata + CreateUnhandledError + Error + Send + Sync + 'static,
{
    let failure = failure(result);
    assert_eq!(
        (failure.code.as_str(), failure.status),
        ("AccessDenied", 403),
        "expected AccessDenied (403): {}",
        failure.message
    );
    assert_eq!(
        failure.message,
        format!(
            "User: {caller} is not authorized to perform: {action} on resource: {resource} \
             because no identity-based policy allows the {action} action"
        )
    );
}

/// "Allows IAM users to manage their own access keys": the AWS-documented self-service
/// policy; `${aws:username}` limits each user to itself.
pub const SELF_SERVICE_KEYS_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "ManageOwnAccessKeys",
      "Effect": "Allow",
      "Action": [
        "iam:CreateAccessKey",
        "iam:DeleteAccessKey",
        "iam:ListAccessKeys",
        "iam:UpdateAccessKey",
        "iam:GetAccessKeyLastUsed",
        "iam:GetUser"
      ],
      "Resource": "arn:aws:iam::*:user/${aws:username}"
    }
  ]
}"#;

/// What `latchkey init --json` printed.
struct Init {
    account_id: String,
    keys: Keys,
}

fn init(data: &Path) -> Result<Init, String> {
    let output = Command::new(BINARY)
        .arg("init")
        .arg("--data")
        .arg(data)
        .arg("--json")
        .env("LATCHKEY_LOG", "warn")
        .env_remove("LATCHKEY_MASTER_KEY")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {BINARY}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "latchkey init failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let json: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("latchkey init --json printed no JSON object: {e}"))?;
    let field = |name: &str| {
        json[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("latchkey init --json has no string {name}: {json}"))
    };
    assert_eq!(field("UserName")?, "admin");
    Ok(Init {
        account_id: field("AccountId")?,
        keys: Keys {
            access_key_id: field("AccessKeyId")?,
            secret_access_key: field("SecretAccessKey")?,
        },
    })
}

/// A port that was free a moment ago.
fn free_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// Polls `GET /healthz` until it answers 200, the watchdog exits, or the timeout passes.
fn wait_until_healthy(address: SocketAddr, watchdog: &mut Child) -> Result<(), String> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if healthz_ok(address) {
            return Ok(());
        }
        if let Ok(Some(status)) = watchdog.try_wait() {
            return Err(format!(
                "the server on {address} exited before it was ready: {status}"
            ));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{address}/healthz did not answer 200 within {STARTUP_TIMEOUT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One plain HTTP/1.1 `GET /healthz`; true on a 200 response.
fn healthz_ok(address: SocketAddr) -> bool {
    let attempt = || -> std::io::Result<bool> {
        let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.set_write_timeout(Some(Duration::from_secs(2)))?;
        write!(
            stream,
            "GET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
        )?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        Ok(response.starts_with(b"HTTP/1.1 200 "))
    };
    attempt().unwrap_or(false)
}
