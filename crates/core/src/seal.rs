//! Sealing secrets at rest with AES-256-GCM-SIV under the master key.
//!
//! A sealed value is `version (1 byte) || nonce (12) || ciphertext+tag`. The row's identity is
//! bound in as associated data, so a sealed secret copied onto another row fails to open.

use aes_gcm_siv::{
    Aes256GcmSiv, Nonce,
    aead::{Aead, KeyInit, Payload},
};
use base64::Engine;
use rand::RngCore;

use crate::ids::os_rng;
use zeroize::Zeroizing;

const FORMAT_V1: u8 = 1;

/// The 256-bit key that seals every secret of a data dir.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the master key must be 32 bytes, base64-encoded")]
    BadMasterKey,
    #[error("a sealed secret could not be opened: wrong master key or damaged data")]
    Open,
}

impl MasterKey {
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        os_rng().fill_bytes(key.as_mut());
        MasterKey(key)
    }

    /// Reads the base64 text form (the master key file, `LATCHKEY_MASTER_KEY`).
    pub fn from_base64(text: &str) -> Result<Self, SealError> {
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|_| SealError::BadMasterKey)?,
        );
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| SealError::BadMasterKey)?;
        Ok(MasterKey(Zeroizing::new(key)))
    }

    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(self.0.as_ref()))
    }

    pub fn seal(&self, plaintext: &[u8], associated_data: &[u8]) -> Vec<u8> {
        let cipher = Aes256GcmSiv::new(self.0.as_ref().into());
        let mut nonce = [0u8; 12];
        os_rng().fill_bytes(&mut nonce);
        let ciphertext = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: associated_data,
                },
            )
            .expect("AES-GCM-SIV encryption of a short message cannot fail");
        let mut out = Vec::with_capacity(1 + 12 + ciphertext.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    pub fn open(
        &self,
        sealed: &[u8],
        associated_data: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let (&version, rest) = sealed.split_first().ok_or(SealError::Open)?;
        if version != FORMAT_V1 || rest.len() < 12 {
            return Err(SealError::Open);
        }
        let (nonce, ciphertext) = rest.split_at(12);
        let cipher = Aes256GcmSiv::new(self.0.as_ref().into());
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: associated_data,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SealError::Open)
    }
}

/// Associated data for a sealed secret access key.
pub fn access_key_aad(access_key_id: &str) -> Vec<u8> {
    format!("latchkey/access-key-secret/v1/{access_key_id}").into_bytes()
}

/// Associated data for a sealed MFA device seed.
pub fn mfa_seed_aad(serial: &str) -> Vec<u8> {
    format!("latchkey/mfa-seed/v1/{serial}").into_bytes()
}

/// Associated data for the value that proves a master key belongs to a data dir.
pub const MASTER_KEY_CHECK_AAD: &[u8] = b"latchkey/master-key-check/v1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open() {
        let key = MasterKey::generate();
        let sealed = key.seal(b"secret", b"row-1");
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(key.open(&sealed, b"row-1").unwrap().as_slice(), b"secret");
    }

    #[test]
    fn wrong_row_wrong_key_or_damage_fail() {
        let key = MasterKey::generate();
        let sealed = key.seal(b"secret", b"row-1");
        assert!(key.open(&sealed, b"row-2").is_err());
        assert!(MasterKey::generate().open(&sealed, b"row-1").is_err());
        let mut damaged = sealed.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert!(key.open(&damaged, b"row-1").is_err());
        assert!(key.open(&[], b"row-1").is_err());
        assert!(key.open(&[1, 2, 3], b"row-1").is_err());
    }

    #[test]
    fn base64_round_trip_and_bad_lengths() {
        let key = MasterKey::generate();
        let again = MasterKey::from_base64(&key.to_base64()).unwrap();
        let sealed = key.seal(b"x", b"a");
        assert!(again.open(&sealed, b"a").is_ok());
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
        assert!(MasterKey::from_base64("not base64!").is_err());
        assert_eq!(format!("{key:?}"), "MasterKey(<redacted>)");
    }
}
