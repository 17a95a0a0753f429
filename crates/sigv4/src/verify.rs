use crate::canonical::{write_canonical_request, write_string_to_sign};
use crate::encoding::constant_time_eq;
use crate::error::{echo, incomplete};
use crate::sha256::Sha256;
use crate::{AuthLocation, HttpRequest, Options, Presented, SigV4Error, SigningKey};

/// [`verify_with`] using the default [`Options`] (IAM, STS and other non-S3 services).
pub fn verify(
    req: &HttpRequest<'_>,
    p: &Presented<'_>,
    key: &SigningKey,
) -> Result<(), SigV4Error> {
    verify_with(req, p, key, &Options::default())
}

/// Recomputes the signature from what the request says it signed and compares it
/// in constant time.
///
/// A presigned request whose `X-Amz-Security-Token` does not verify as signed is
/// retried with the token left out, since AWS lets the token be appended after
/// signing. That cannot widen access: the token stays bound to the access key by
/// the caller's token validation.
pub fn verify_with(
    req: &HttpRequest<'_>,
    p: &Presented<'_>,
    key: &SigningKey,
    opts: &Options,
) -> Result<(), SigV4Error> {
    if signature_matches(req, p, key, opts)? {
        return Ok(());
    }
    let token_may_be_unsigned = p.location == AuthLocation::Query
        && p.security_token.is_some()
        && !opts.omit_query_security_token;
    if token_may_be_unsigned {
        let without_token = Options {
            omit_query_security_token: true,
            ..*opts
        };
        if signature_matches(req, p, key, &without_token)? {
            return Ok(());
        }
    }
    Err(SigV4Error::SignatureDoesNotMatch)
}

fn signature_matches(
    req: &HttpRequest<'_>,
    p: &Presented<'_>,
    key: &SigningKey,
    opts: &Options,
) -> Result<bool, SigV4Error> {
    let mut hasher = Sha256::new();
    write_canonical_request(&mut hasher, req, p, opts)?;
    let mut mac = key.start();
    write_string_to_sign(&mut mac, &hasher.finalize(), p);
    Ok(constant_time_eq(&mac.finalize(), &p.signature))
}

/// Rejects a credential scoped to another service, or to a region outside
/// `regions` (any region when `regions` is empty). [`parse`](crate::parse) cannot
/// know which service the server is; a signature for another one must not count.
pub fn check_scope(p: &Presented<'_>, service: &str, regions: &[&str]) -> Result<(), SigV4Error> {
    if p.scope.service != service {
        return Err(incomplete(format!(
            "Credential should be scoped to correct service: '{service}'."
        )));
    }
    if !regions.is_empty() && !regions.contains(&p.scope.region) {
        return Err(incomplete(format!(
            "Credential should be scoped to a valid region, not '{}'.",
            echo(p.scope.region)
        )));
    }
    Ok(())
}
