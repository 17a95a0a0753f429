use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::CredentialScope;

type HmacSha256 = Hmac<Sha256>;

/// The SigV4 signing key for one (secret, date, region, service): HMAC chain of
/// `"AWS4" + secret` over the scope. Zeroized on drop; `Debug` shows nothing.
#[derive(Clone)]
pub struct SigningKey([u8; 32]);

impl SigningKey {
    pub fn derive(secret_access_key: &str, scope: &CredentialScope<'_>) -> SigningKey {
        let mut k_secret = Zeroizing::new(Vec::with_capacity(4 + secret_access_key.len()));
        k_secret.extend_from_slice(b"AWS4");
        k_secret.extend_from_slice(secret_access_key.as_bytes());
        let k_date = Zeroizing::new(hmac_sha256(&k_secret, scope.date.as_bytes()));
        let k_region = Zeroizing::new(hmac_sha256(&*k_date, scope.region.as_bytes()));
        let k_service = Zeroizing::new(hmac_sha256(&*k_region, scope.service.as_bytes()));
        SigningKey(hmac_sha256(&*k_service, b"aws4_request"))
    }

    pub(crate) fn mac(&self) -> HmacSha256 {
        keyed_mac(&self.0)
    }
}

impl Drop for SigningKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// HMAC-SHA256 of the string to sign: the raw (not hex) signature.
pub fn sign(key: &SigningKey, string_to_sign: &str) -> [u8; 32] {
    let mut mac = key.mac();
    Mac::update(&mut mac, string_to_sign.as_bytes());
    mac.finalize().into_bytes().into()
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = keyed_mac(key);
    Mac::update(&mut mac, data);
    mac.finalize().into_bytes().into()
}

/// Does RFC 2104's key preparation (hash if longer than a block, zero-pad) here so
/// the infallible block-sized constructor applies; the result is plain HMAC.
fn keyed_mac(key: &[u8]) -> HmacSha256 {
    let mut block = Zeroizing::new([0u8; 64]);
    if key.len() > block.len() {
        let digest = Zeroizing::new(<[u8; 32]>::from(Sha256::digest(key)));
        block.iter_mut().zip(digest.iter()).for_each(|(b, k)| *b = *k);
    } else {
        block.iter_mut().zip(key).for_each(|(b, k)| *b = *k);
    }
    <HmacSha256 as KeyInit>::new(&(*block).into())
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
            .is_some_and(|s| bool::from(s.as_bytes().ct_eq(secret.as_bytes())))
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

    pub fn get_or_derive(&self, secret_access_key: &str, scope: &CredentialScope<'_>) -> SigningKey {
        {
            let inner = self.lock();
            if inner.secret_matches(secret_access_key) {
                if let Some(key) = inner.find(scope) {
                    return key.clone();
                }
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
        let key = SigningKey::derive("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", &SCOPE);
        assert_eq!(
            crate::encoding::hex_lower(&key.0),
            *b"c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
        assert_eq!(format!("{key:?}"), "SigningKey(<redacted>)");
    }

    #[test]
    fn keyed_mac_matches_hmac_for_any_key_length() {
        for len in [0, 1, 32, 63, 64, 65, 200] {
            let key = vec![0x5a; len];
            let mut reference = <HmacSha256 as Mac>::new_from_slice(&key).unwrap_or_else(|_| keyed_mac(&[]));
            Mac::update(&mut reference, b"data");
            let expected: [u8; 32] = reference.finalize().into_bytes().into();
            assert_eq!(hmac_sha256(&key, b"data"), expected, "key length {len}");
        }
    }

    #[test]
    fn cache_hits_evicts_oldest_and_flushes_on_new_secret() {
        let cache = SigningKeyCache::new();
        let dates: Vec<String> = (1..=CACHE_SLOTS + 1).map(|d| format!("201508{d:02}")).collect();
        for date in &dates {
            let scope = CredentialScope { date, ..SCOPE };
            let key = cache.get_or_derive("secret", &scope);
            assert_eq!(key.0, SigningKey::derive("secret", &scope).0);
        }
        let inner = cache.lock();
        assert_eq!(inner.slots.iter().flatten().count(), CACHE_SLOTS);
        assert!(inner.find(&CredentialScope { date: &dates[0], ..SCOPE }).is_none());
        assert!(inner.find(&CredentialScope { date: &dates[1], ..SCOPE }).is_some());
        drop(inner);

        let scope = CredentialScope { date: &dates[1], ..SCOPE };
        let rotated = cache.get_or_derive("other secret", &scope);
        assert_eq!(rotated.0, SigningKey::derive("other secret", &scope).0);
        assert_eq!(cache.lock().slots.iter().flatten().count(), 1);
        assert_eq!(format!("{cache:?}"), "SigningKeyCache { entries: 1, .. }");
    }
}
