//! The reference server for `bench/load.sh`: the SigV4 work of one GetCallerIdentity
//! and nothing else.
//!
//! Per request: read the body, build a [`HttpRequest`], `parse`, `check_time`, derive the
//! signing key (every request, no cache), `verify`, and answer a fixed GetCallerIdentity
//! document. No state, no request id, no form decoding, no authorization.
//!
//! ```text
//! cargo run --release -p latchkey-server --example sigv4_baseline -- \
//!     --listen 127.0.0.1:9001 --access-key-id AKIA... --secret ...
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use latchkey_sigv4::{HttpRequest, SigningKey, check_time, parse, verify};

const MAX_BODY_BYTES: usize = 1024 * 1024;

const CALLER_IDENTITY: &str = "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
<GetCallerIdentityResult><Arn>arn:aws:iam::000000000000:user/admin</Arn>\
<UserId>AIDAAAAAAAAAAAAAAAAAA</UserId><Account>000000000000</Account></GetCallerIdentityResult>\
<ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata>\
</GetCallerIdentityResponse>";

struct Key {
    access_key_id: String,
    secret: String,
}

fn usage() -> ! {
    eprintln!("usage: sigv4_baseline --listen ADDR --access-key-id ID --secret SECRET");
    std::process::exit(2);
}

fn main() {
    let mut listen: Option<SocketAddr> = None;
    let mut access_key_id = None;
    let mut secret = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--listen" => listen = Some(value.parse().unwrap_or_else(|_| usage())),
            "--access-key-id" => access_key_id = Some(value),
            "--secret" => secret = Some(value),
            _ => usage(),
        }
    }
    let (Some(listen), Some(access_key_id), Some(secret)) = (listen, access_key_id, secret) else {
        usage()
    };
    let key = Arc::new(Key {
        access_key_id,
        secret,
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("cannot start the async runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .expect("cannot listen");
        let app = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .fallback(handle)
            .with_state(key);
        axum::serve(listener, app).await.expect("the server failed");
    });
}

fn forbidden(message: String) -> Response {
    (StatusCode::FORBIDDEN, message).into_response()
}

async fn handle(State(key): State<Arc<Key>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return (StatusCode::BAD_REQUEST, "body too large").into_response();
    };
    let headers: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter_map(|(name, value)| value.to_str().ok().map(|value| (name.as_str(), value)))
        .collect();
    let http = HttpRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        body: &body,
    };
    let presented = match parse(&http) {
        Ok(presented) => presented,
        Err(error) => return forbidden(error.message()),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    if let Err(error) = check_time(&presented, now) {
        return forbidden(error.message());
    }
    if presented.access_key_id != key.access_key_id.as_str() {
        return forbidden("unknown access key".to_owned());
    }
    let signing_key = SigningKey::derive(&key.secret, &presented.scope);
    if let Err(error) = verify(&http, &presented, &signing_key) {
        return forbidden(error.message());
    }
    let mut response = (StatusCode::OK, CALLER_IDENTITY).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    response
}
