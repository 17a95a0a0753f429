use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use zeroize::Zeroizing;

use crate::CredentialScope;
use crate::encoding::constant_time_eq;
use crate::sha256::{Hmac, HmacKey};

/// The SigV4 signing key for one (secret, date, region, service): the HMAC chain of
/// `"AWS4" + secret` over the scope, kept as ready-keyed HMAC state. Zeroized on
/// drop; `Debug` shows nothing.
#[derive(Clone)]
pub struct SigningKey(HmacKey);

impl SigningKey {
    pub fn derive(secret_access_key: &str, scope: &CredentialScope<'_>) -> SigningKey {
        SigningKey(HmacKey::new(&*derive_bytes(secret_access_key, scope)))
    }

    pub(crate) fn start(&self) -> Hmac {
        self.0.start()
    }
}

fn derive_bytes(secret_access_key: &str, scope: &CredentialScope<'_>) -> Zeroizing<[u8; 32]> {
    let mut k_secret = Zeroizing::new(Vec::with_capacity(4 + secret_access_key.len()));
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret_access_key.as_bytes());
    let k_date = Zeroizing::new(HmacKey::new(&k_secret).mac(scope.date.as_bytes()));
    let k_region = Zeroizing::new(HmacKey::new(&*k_date).mac(scope.region.as_bytes()));
    let k_service = Zeroizing::new(HmacKey::new(&*k_region).mac(scope.service.as_bytes()));
    Zeroizing::new(HmacKey::new(&*k_service).mac(b"aws4_request"))
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// HMAC-SHA256 of the string to sign: the raw (not hex) signature.
pub fn sign(key: &SigningKey, string_to_sign: &str) -> [u8; 32] {
    key.0.mac(string_to_sign.as_bytes())
}

const CACHE_SLOTS: usize = 8;

/// Signing keys of one access key, by (date, region, service). A day's traffic
/// touches a handful of scopes, so a small FIFO ring suffices; a hit is a short
/// critical section with no allocation. Entries are tied to the secret they were
/// derived from: asking with another secret flushes the cache.
pub struct SigningKeyCache {
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    secret: Option<Zeroizing<String>>,
    slots: [Option<CacheEntry>; CACHE_SLOTS],
    next: usize,
}

struct CacheEntry {
    date: String,
    region: String,
    service: String,
    key: SigningKey,
}

impl CacheInner {
    fn secret_matches(&self, secret: &str) -> bool {
        self.secret
            .as_ref()
            .is_some_and(|s| constant_time_eq(s.as_bytes(), secret.as_bytes()))
    }

    fn find(&self, scope: &CredentialScope<'_>) -> Option<&SigningKey> {
        self.slots.iter().flatten().find_map(|e| {
            (e.date == scope.date && e.region == scope.region && e.service == scope.service)
                .then_some(&e.key)
        })
    }

    fn insert(&mut self, scope: &CredentialScope<'_>, key: SigningKey) {
        let entry = CacheEntry {
            date: scope.date.to_owned(),
            region: scope.region.to_owned(),
            service: scope.service.to_owned(),
            key,
        };
        if let Some(slot) = self.slots.get_mut(self.next) {
            *slot = Some(entry);
        }
        self.next = (self.next + 1) % CACHE_SLOTS;
    }
}

impl SigningKeyCache {
    pub fn new() -> Self {
        Self {
            inner: Mutex::new(CacheInner::default()),
        }
    }

    pub fn get_or_derive(
        &self,
        secret_access_key: &str,
        scope: &CredentialScope<'_>,
    ) -> SigningKey {
        {
            let inner = self.lock();
            if inner.secret_matches(secret_access_key)
                && let Some(key) = inner.find(scope)
            {
                return key.clone();
            }
        }
        // Derive outside the lock: it is the slow part and needs no shared state.
        let key = SigningKey::derive(secret_access_key, scope);
        let mut inner = self.lock();
        if !inner.secret_matches(secret_access_key) {
            *inner = CacheInner {
                secret: Some(Zeroizing::new(secret_access_key.to_owned())),
                ..CacheInner::default()
            };
        }
        if inner.find(scope).is_none() {
            inner.insert(scope, key.clone());
        }
        key
    }

    // Nothing under the lock can panic, but a poisoned cache is still just a cache.
    fn lock(&self) -> MutexGuard<'_, CacheInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for SigningKeyCache {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SigningKeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries = self.lock().slots.iter().flatten().count();
        f.debug_struct("SigningKeyCache")
            .field("entries", &entries)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCOPE: CredentialScope<'static> = CredentialScope {
        date: "20150830",
        region: "us-east-1",
        service: "iam",
    };

    #[test]
    fn derives_the_documented_key() {
        // docs.aws.amazon.com "Examples of how to derive a signing key for Signature Version 4"
        let key = derive_bytes("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", &SCOPE);
        assert_eq!(
            crate::encoding::hex_lower(&key),
            *b"c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
        let key = SigningKey::derive("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", &SCOPE);
        assert_eq!(format!("{key:?}"), "SigningKey(<redacted>)");
    }

    #[test]
    fn cache_hits_evicts_oldest_and_flushes_on_new_secret() {
        let cache = SigningKeyCache::new();
        let dates: Vec<String> = (1..=CACHE_SLOTS + 1)
            .map(|d| format!("201508{d:02}"))
            .collect();
        for date in &dates {
            let scope = CredentialScope { date, ..SCOPE };
            let key = cache.get_or_derive("secret", &scope);
            assert_eq!(
                sign(&key, "x"),
                sign(&SigningKey::derive("secret", &scope), "x")
            );
        }
        let inner = cache.lock();
        assert_eq!(inner.slots.iter().flatten().count(), CACHE_SLOTS);
        assert!(
            inner
                .find(&CredentialScope {
                    date: &dates[0],
                    ..SCOPE
                })
                .is_none()
        );
        assert!(
            inner
                .find(&CredentialScope {
                    date: &dates[1],
                    ..SCOPE
                })
                .is_some()
        );
        drop(inner);

        let scope = CredentialScope {
            date: &dates[1],
            ..SCOPE
        };
        let rotated = cache.get_or_derive("other secret", &scope);
        assert_eq!(
            sign(&rotated, "x"),
            sign(&SigningKey::derive("other secret", &scope), "x")
        );
        assert_eq!(cache.lock().slots.iter().flatten().count(), 1);
        assert_eq!(format!("{cache:?}"), "SigningKeyCache { entries: 1, .. }");
    }
}
