//! The few server-rendered pages (invitations, device verification): plain HTML with labelled
//! fields, no script, and headers that keep tokens out of caches, referrers and frames.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// No script, style, frame or fetch; forms post back here only.
const POLICY: &str =
    "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// The same, with inline `data:` images: the QR code of a new authenticator.
const POLICY_WITH_IMAGES: &str = "default-src 'none'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    page_with_policy(status, title, body, POLICY)
}

/// A page that shows `data:` images (and nothing else from elsewhere).
pub fn page_with_images(status: StatusCode, title: &str, body: &str) -> Response {
    page_with_policy(status, title, body, POLICY_WITH_IMAGES)
}

fn page_with_policy(status: StatusCode, title: &str, body: &str, policy: &'static str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · latchkey</title></head>\n<body>\n<main>\n<h1>{title}</h1>\n{body}\n</main>\n</body></html>\n",
        title = escape(title)
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CONTENT_SECURITY_POLICY, policy),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
