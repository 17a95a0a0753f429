//! Sealing secrets at rest with AES-256-GCM-SIV under the master key.
//!
//! A sealed value is `1 || nonce (12) || ciphertext+tag`, or during a master key rotation
//! `2 || key id (8) || nonce (12) || ciphertext+tag`, which names the key that sealed it
//! (docs/design/master-key-rotation.md). A value that names no key opens by trying each. The row's identity is bound in
//! as associated data, so a sealed secret copied onto another row fails to open.

use aes_gcm_siv::{
    Aes256GcmSiv, Nonce,
    aead::{Aead, KeyInit, Payload},
};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::ids::os_rng;
use zeroize::Zeroizing;

const FORMAT_V1: u8 = 1;
const FORMAT_V2: u8 = 2;
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 12;

/// Names a master key without revealing anything useful about it: the first 8 bytes of
/// SHA-256 over a domain label and the key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; KEY_ID_LEN]);

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl std::fmt::Debug for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyId({self})")
    }
}

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
    #[error("the master key file names no key")]
    EmptyKeyring,
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

    pub fn id(&self) -> KeyId {
        let digest = Sha256::new()
            .chain_update(b"latchkey/master-key-id/v1")
            .chain_update(self.0.as_ref())
            .finalize();
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        KeyId(id)
    }

    /// Seals in format 2, naming this key.
    pub fn seal(&self, plaintext: &[u8], associated_data: &[u8]) -> Vec<u8> {
        self.seal_as(plaintext, associated_data, true)
    }

    fn seal_as(&self, plaintext: &[u8], associated_data: &[u8], named: bool) -> Vec<u8> {
        let cipher = Aes256GcmSiv::new(self.0.as_ref().into());
        let mut nonce = [0u8; NONCE_LEN];
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
        let mut out = Vec::with_capacity(1 + KEY_ID_LEN + NONCE_LEN + ciphertext.len());
        if named {
            out.push(FORMAT_V2);
            out.extend_from_slice(&self.id().0);
        } else {
            out.push(FORMAT_V1);
        }
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    pub fn open(
        &self,
        sealed: &[u8],
        associated_data: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let rest = match sealed_under(sealed)? {
            Sealed::Named(id, rest) if id == self.id() => rest,
            Sealed::Named(..) => return Err(SealError::Open),
            Sealed::Unnamed(rest) => rest,
        };
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
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

/// What a sealed value says about its key, and the nonce and ciphertext after it.
enum Sealed<'a> {
    Named(KeyId, &'a [u8]),
    /// Sealed before values named their key.
    Unnamed(&'a [u8]),
}

fn sealed_under(sealed: &[u8]) -> Result<Sealed<'_>, SealError> {
    match sealed.split_first() {
        Some((&FORMAT_V2, rest)) if rest.len() >= KEY_ID_LEN + NONCE_LEN => {
            let (id, rest) = rest.split_at(KEY_ID_LEN);
            let id = KeyId(id.try_into().map_err(|_| SealError::Open)?);
            Ok(Sealed::Named(id, rest))
        }
        Some((&FORMAT_V1, rest)) if rest.len() >= NONCE_LEN => Ok(Sealed::Unnamed(rest)),
        _ => Err(SealError::Open),
    }
}

/// The key a sealed value names; `None` for a value sealed before values named their key
/// (or one too damaged to say).
pub fn key_id_of(sealed: &[u8]) -> Option<KeyId> {
    match sealed_under(sealed) {
        Ok(Sealed::Named(id, _)) => Some(id),
        _ => None,
    }
}

/// The master keys a server holds: the primary seals everything new; the others (keys being
/// introduced or retired in a rotation) only open what was sealed under them.
///
/// Its text form (the master key file, `LATCHKEY_MASTER_KEY`) is one base64 key per line or
/// comma-separated entry, the primary first, each optionally followed by words about it
/// (`staged`, `retiring-since ...`) that only the rotation command reads; lines starting
/// with `#` are comments.
#[derive(Clone, Debug)]
pub struct Keyring {
    keys: Vec<MasterKey>,
}

impl From<MasterKey> for Keyring {
    fn from(key: MasterKey) -> Self {
        Keyring { keys: vec![key] }
    }
}

impl Keyring {
    /// `keys[0]` is the primary; duplicates are dropped.
    pub fn new(keys: Vec<MasterKey>) -> Result<Self, SealError> {
        let mut unique: Vec<MasterKey> = Vec::with_capacity(keys.len());
        for key in keys {
            if !unique.iter().any(|k| k.id() == key.id()) {
                unique.push(key);
            }
        }
        if unique.is_empty() {
            return Err(SealError::EmptyKeyring);
        }
        Ok(Keyring { keys: unique })
    }

    pub fn from_text(text: &str) -> Result<Self, SealError> {
        let keys = text
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .flat_map(|line| line.split(','))
            // A key may be followed by words about it (the rotation command's notes).
            .filter_map(|entry| entry.split_whitespace().next())
            .map(MasterKey::from_base64)
            .collect::<Result<Vec<_>, _>>()?;
        Keyring::new(keys)
    }

    /// The text form, primary first, one key per line.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::new());
        for key in &self.keys {
            text.push_str(&key.to_base64());
            text.push('\n');
        }
        text
    }

    pub fn primary(&self) -> &MasterKey {
        &self.keys[0]
    }

    pub fn keys(&self) -> &[MasterKey] {
        &self.keys
    }

    pub fn ids(&self) -> Vec<KeyId> {
        self.keys.iter().map(MasterKey::id).collect()
    }

    /// Seals under the primary key. Alone in the ring it seals in format 1, which every
    /// latchkey version opens (instances of two versions can share a database during an
    /// upgrade); during a rotation, in format 2, naming the key, so that what still needs
    /// an old key can be counted without it.
    pub fn seal(&self, plaintext: &[u8], associated_data: &[u8]) -> Vec<u8> {
        self.primary()
            .seal_as(plaintext, associated_data, self.keys.len() > 1)
    }

    /// Opens a value sealed under any key of the ring: the one it names, or for a value
    /// that names none, each in turn.
    pub fn open(
        &self,
        sealed: &[u8],
        associated_data: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        self.open_with(sealed, associated_data)
            .map(|(_, plaintext)| plaintext)
    }

    /// The value opened, and the key of the ring that opened it.
    fn open_with(
        &self,
        sealed: &[u8],
        associated_data: &[u8],
    ) -> Result<(KeyId, Zeroizing<Vec<u8>>), SealError> {
        let candidates: Vec<&MasterKey> = match sealed_under(sealed)? {
            Sealed::Named(id, _) => self.keys.iter().filter(|key| key.id() == id).collect(),
            Sealed::Unnamed(_) => self.keys.iter().collect(),
        };
        candidates
            .into_iter()
            .find_map(|key| {
                key.open(sealed, associated_data)
                    .ok()
                    .map(|plaintext| (key.id(), plaintext))
            })
            .ok_or(SealError::Open)
    }

    /// Which key of the ring opens the value, if any.
    pub fn opener(&self, sealed: &[u8], associated_data: &[u8]) -> Option<KeyId> {
        self.open_with(sealed, associated_data)
            .ok()
            .map(|(id, _)| id)
    }

    /// The value sealed again under the primary key, unless the primary already opens it.
    pub fn reseal(
        &self,
        sealed: &[u8],
        associated_data: &[u8],
    ) -> Result<Option<Vec<u8>>, SealError> {
        let (opener, plaintext) = self.open_with(sealed, associated_data)?;
        if opener == self.primary().id() {
            return Ok(None);
        }
        Ok(Some(self.seal(&plaintext, associated_data)))
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

/// What an identity-store user's authenticator seed is bound to.
pub fn identity_mfa_seed_aad(user_id: &str) -> Vec<u8> {
    format!("latchkey/identity-mfa-seed/v1/{user_id}").into_bytes()
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
    fn sealed_values_name_their_key() {
        let key = MasterKey::generate();
        let sealed = key.seal(b"secret", b"row-1");
        assert_eq!(key_id_of(&sealed), Some(key.id()));
        assert_ne!(key.id(), MasterKey::generate().id());
        // A value sealed before key ids (format 1) still opens.
        let mut legacy = vec![FORMAT_V1];
        legacy.extend_from_slice(&sealed[1 + KEY_ID_LEN..]);
        assert_eq!(key_id_of(&legacy), None);
        // The id is not authenticated as associated data, but the tag binds the key anyway.
        assert_eq!(key.open(&legacy, b"row-1").unwrap().as_slice(), b"secret");
    }

    #[test]
    fn a_keyring_seals_under_its_primary_and_opens_under_any() {
        let old = MasterKey::generate();
        let new = MasterKey::generate();
        let under_old = old.seal(b"secret", b"row");
        let mut legacy = vec![FORMAT_V1];
        legacy.extend_from_slice(&under_old[1 + KEY_ID_LEN..]);
        let ring = Keyring::new(vec![new.clone(), old.clone()]).unwrap();
        assert_eq!(ring.open(&under_old, b"row").unwrap().as_slice(), b"secret");
        assert_eq!(ring.open(&legacy, b"row").unwrap().as_slice(), b"secret");
        let sealed = ring.seal(b"fresh", b"row");
        assert_eq!(key_id_of(&sealed), Some(new.id()));
        assert!(old.open(&sealed, b"row").is_err());

        // Re-sealing moves a value to the primary, once; the old key alone cannot open it.
        let resealed = ring.reseal(&under_old, b"row").unwrap().unwrap();
        assert_eq!(key_id_of(&resealed), Some(new.id()));
        assert!(ring.reseal(&resealed, b"row").unwrap().is_none());
        assert!(Keyring::from(old.clone()).open(&resealed, b"row").is_err());
        assert_eq!(
            Keyring::from(new.clone())
                .open(&resealed, b"row")
                .unwrap()
                .as_slice(),
            b"secret"
        );
        let resealed_legacy = ring.reseal(&legacy, b"row").unwrap().unwrap();
        assert_eq!(key_id_of(&resealed_legacy), Some(new.id()));
        // The associated data still binds: a value cannot be re-sealed onto another row.
        assert!(ring.reseal(&under_old, b"other-row").is_err());
        // A key the ring does not hold opens nothing.
        assert!(Keyring::from(new).open(&under_old, b"row").is_err());
    }

    #[test]
    fn keyring_text_form() {
        let a = MasterKey::generate();
        let b = MasterKey::generate();
        let ring = Keyring::new(vec![a.clone(), b.clone(), a.clone()]).unwrap();
        assert_eq!(ring.ids(), vec![a.id(), b.id()]);
        let again =
            Keyring::from_text(&format!("# promoted\n{}", ring.to_text().as_str())).unwrap();
        assert_eq!(again.ids(), ring.ids());
        let comma = format!(
            "{} staged, {}",
            a.to_base64().as_str(),
            b.to_base64().as_str()
        );
        assert_eq!(Keyring::from_text(&comma).unwrap().ids(), ring.ids());
        // One key, as files were written before rotation existed.
        assert_eq!(
            Keyring::from_text(&a.to_base64()).unwrap().ids(),
            vec![a.id()]
        );
        assert!(Keyring::from_text("# nothing\n").is_err());
        assert!(Keyring::from_text("c2hvcnQ=").is_err());
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
