//! The console's form posts, through the console's real router, in-process, as a signed-in
//! administrator: each input picks a form route and the name in its path, and is the form
//! body, sent with the session's cookie and (unless the input says not to) its anti-forgery
//! token, so that mutations reach the handlers' own parsing and checks rather than stopping
//! at the forgery check. Every answer must be a page, a redirect or a 4xx; a panic or a 5xx
//! is a finding. Seeds: forms as the console's pages post them.
//!
//! Input: one byte choosing the route (its top bit: leave the token out), the path's name up
//! to the first line break, then the body.
#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use latchkey_core::Directory;
use latchkey_core::console::SignIn;
use latchkey_server::console::{self, Console};
use latchkey_server::datadir::{self, StoreLocation};
use latchkey_server::oidc::SignInThrottle;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt as _;

/// The console's form routes, `{}` where the path names a user, key, group or person. Signing
/// out is left out: it would end the session every later input needs.
const ROUTES: &[&str] = &[
    "/console/signin",
    "/console/signin/mfa",
    "/console/signin/new-password",
    "/console/account/alias",
    "/console/account/password-policy",
    "/console/password",
    "/console/users/new",
    "/console/users/{}/console-access",
    "/console/users/{}/console-access/reset",
    "/console/users/{}/console-access/delete",
    "/console/users/{}/mfa/new",
    "/console/users/{}/mfa/enable",
    "/console/users/{}/mfa/remove",
    "/console/users/{}/access-keys/new",
    "/console/users/alice/access-keys/{}/status",
    "/console/users/alice/access-keys/{}/delete",
    "/console/users/{}/policies",
    "/console/users/{}/groups",
    "/console/users/{}/tags",
    "/console/groups/new",
    "/console/groups/{}/members",
    "/console/groups/{}/policies",
    "/console/policies/new",
    "/console/policies/validate",
    "/console/policies/versions",
    "/console/root-keys",
    "/console/root-keys/{}/status",
    "/console/root-keys/{}/delete",
    "/console/identity-center/users",
    "/console/identity-center/users/{}/resend",
    "/console/identity-center/users/{}/authenticator",
    "/console/identity-center/groups",
    "/console/identity-center/groups/{}/members",
    "/console/identity-center/groups/{}/members/remove",
    "/console/identity-center/permission-sets",
    "/console/identity-center/permission-sets/attach",
    "/console/identity-center/permission-sets/detach",
    "/console/identity-center/accounts/assign",
    "/console/identity-center/accounts/unassign",
    "/console/identity-center/accounts/ou",
    "/console/identity-center/accounts/move",
];

struct Harness {
    runtime: tokio::runtime::Runtime,
    directory: Arc<Directory>,
    app: axum::Router,
    account_id: String,
    password: String,
    /// Kept for the process's life: the data directory.
    _data: tempfile::TempDir,
}

/// A signed-in administrator's cookie and anti-forgery token.
fn session(h: &Harness) -> Option<(String, String)> {
    let now = chrono::Utc::now();
    let SignIn::Session { token, .. } = h
        .directory
        .console_sign_in_user(&h.account_id, "admin", &h.password, now)
        .ok()?
    else {
        return None;
    };
    let csrf = h.directory.console_session(&token, now)?.csrf_token;
    Some((token.to_string(), csrf))
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let data = tempfile::tempdir().expect("a temporary directory");
        let directory = Arc::new(
            datadir::open(data.path(), &StoreLocation::Sqlite).expect("the data directory opens"),
        );
        let init = directory.initialize(None).expect("initialization");
        directory
            .ensure_identity_center()
            .expect("the Identity Center instance");
        // A user the user routes can name.
        directory
            .create_user(&init.account_id, "alice", None, vec![], None)
            .expect("alice");
        let console = Arc::new(Console {
            directory: directory.clone(),
            sign_in_failures: SignInThrottle::default(),
            secure: false,
            public_url: "http://localhost".into(),
        });
        Harness {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime"),
            directory,
            app: console::router(console),
            account_id: init.account_id.clone(),
            password: init.console_password.to_string(),
            _data: data,
        }
    })
}

fn session_now(h: &'static Harness) -> Option<(String, String)> {
    static SESSION: std::sync::Mutex<Option<(String, String)>> = std::sync::Mutex::new(None);
    let mut held = SESSION.lock().unwrap_or_else(|p| p.into_inner());
    let live = held.as_ref().is_some_and(|(token, _)| {
        h.directory
            .console_session(token, chrono::Utc::now())
            .is_some()
    });
    if !live {
        *held = session(h);
    }
    held.clone()
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let route = ROUTES[usize::from(choice & 0x7f) % ROUTES.len()];
    let with_token = choice & 0x80 == 0;
    let (name, body) = match rest.iter().position(|b| *b == b'\n') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (&b"alice"[..], rest),
    };
    // The administrator's own user is not offered: removing its console password would end
    // the session every later input needs.
    if name.eq_ignore_ascii_case(b"admin") {
        return;
    }
    let name: String = form_urlencoded::byte_serialize(name).collect();
    let path = route.replace("{}", &name);
    let h = harness();
    let Some((token, csrf)) = session_now(h) else {
        return;
    };
    let mut body = body.to_vec();
    if with_token {
        body.extend_from_slice(b"&csrf=");
        body.extend(form_urlencoded::byte_serialize(csrf.as_bytes()).flat_map(str::bytes));
    }
    let Ok(mut request) = Request::post(path.as_str())
        .header(header::HOST, "localhost")
        .header(header::ORIGIN, "http://localhost")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, format!("latchkey-console={token}"))
        .body(Body::from(body))
    else {
        return;
    };
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    let response = h
        .runtime
        .block_on(h.app.clone().oneshot(request))
        .expect("the router answers");
    assert!(
        response.status() < StatusCode::INTERNAL_SERVER_ERROR,
        "{path} answered {}",
        response.status()
    );
});
