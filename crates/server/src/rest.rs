//! Responses of the rest-json services (SSO OIDC, the access portal): JSON bodies that hold
//! tokens or credentials and so are never cached, and, for errors, the code in
//! `x-amzn-ErrorType`, where botocore reads it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

pub fn response(status: StatusCode, body: &Value, error_type: Option<&'static str>) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(code) = error_type {
        headers.insert("x-amzn-errortype", HeaderValue::from_static(code));
    }
    response
}

pub fn ok(body: Value) -> Response {
    response(StatusCode::OK, &body, None)
}
