//! HTTPS on the same listener (docs/design/tls.md): rustls with the ring provider, the one
//! lettre's rustls already brings.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;

/// Whether a request came over TLS, put in its extensions by the connection that read it;
/// the request context's `aws:SecureTransport`.
#[derive(Debug, Clone, Copy)]
pub struct SecureTransport(pub bool);

/// One year: browsers that saw the page over HTTPS refuse plain HTTP to this host after.
const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000";

/// The acceptor for the PEM certificate chain and private key (PKCS#8, PKCS#1 or SEC1).
pub fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read the certificate chain {}", cert.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "{} holds no PEM certificate",
        cert.display()
    );
    let private_key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read the private key {}", key.display()))?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .context("the TLS provider offers no protocol version")?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .context("the certificate and private key do not go together")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Adds `Strict-Transport-Security` to the HTML pages served over TLS (the invitation,
/// device and sign-in pages), so that a browser never sends their forms in the clear.
pub async fn strict_transport_security(request: Request, next: Next) -> Response {
    let secure = request
        .extensions()
        .get::<SecureTransport>()
        .is_some_and(|SecureTransport(secure)| *secure);
    let mut response = next.run(request).await;
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if secure && html {
        response.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(STRICT_TRANSPORT_SECURITY),
        );
    }
    response
}
