//! Master key rotation, the store's part: re-sealing every stored sealed value under the
//! keyring's primary key through ordinary batches (which other instances follow), and
//! counting which keys the stored values are sealed under, so that an old key is retired
//! only when nothing stored needs it. See docs/design/master-key-rotation.md.

use std::collections::BTreeMap;

use crate::seal::{
    KeyId, Keyring, MASTER_KEY_CHECK_AAD, SealError, access_key_aad, identity_mfa_seed_aad,
    mfa_seed_aad,
};
use crate::store::{Change, Contents, Resealed, Store, StoreError};

/// How many re-sealed values go into one batch: small batches keep every write short, so
/// the instances' own writes interleave.
const RESEAL_BATCH: usize = 100;
/// How often a batch that raced a deletion is retried from a fresh read.
const RESEAL_ATTEMPTS: usize = 5;

/// The longest anything sealed under a master key and handed out (not stored) stays valid:
/// an SSO OIDC client registration (90 days). STS session tokens live at most 36 hours,
/// SSO OIDC refresh tokens 7 days. A key retired earlier breaks those still held.
pub const LONGEST_HANDED_OUT: chrono::Duration = crate::oidc::CLIENT_TTL;

#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error("a stored secret does not open under the keyring (the {0}); nothing was changed")]
    Unopenable(String),
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
}

/// Every stored sealed value that is not sealed under the keyring's primary key, sealed
/// again under it.
pub fn reseal_changes(
    contents: &Contents,
    keyring: &Keyring,
) -> Result<Vec<Change>, RotationError> {
    let unopenable = |what: String| move |_: SealError| RotationError::Unopenable(what);
    let mut changes = Vec::new();
    if let Some(check) = &contents.master_key_check
        && let Some(sealed) = keyring
            .reseal(check, MASTER_KEY_CHECK_AAD)
            .map_err(unopenable("master key check".into()))?
    {
        changes.push(Change::Reseal(Resealed::MasterKeyCheck(sealed)));
    }
    for key in &contents.access_keys {
        if let Some(sealed_secret) = keyring
            .reseal(&key.sealed_secret, &access_key_aad(&key.id))
            .map_err(unopenable(format!("access key {}", key.id)))?
        {
            changes.push(Change::Reseal(Resealed::AccessKey {
                access_key_id: key.id.clone(),
                sealed_secret,
            }));
        }
    }
    for device in &contents.mfa_devices {
        if let Some(sealed_seed) = keyring
            .reseal(&device.sealed_seed, &mfa_seed_aad(&device.serial))
            .map_err(unopenable(format!("MFA device {}", device.serial)))?
        {
            changes.push(Change::Reseal(Resealed::MfaDevice {
                serial: device.serial.clone(),
                sealed_seed,
            }));
        }
    }
    for device in &contents.identity_mfa {
        if let Some(sealed_seed) = keyring
            .reseal(&device.sealed_seed, &identity_mfa_seed_aad(&device.user_id))
            .map_err(unopenable(format!("authenticator of {}", device.user_id)))?
        {
            changes.push(Change::Reseal(Resealed::IdentityMfa {
                user_id: device.user_id.clone(),
                sealed_seed,
            }));
        }
    }
    Ok(changes)
}

/// Re-seals everything stored under the keyring's primary key, in small batches, until a
/// fresh read finds nothing left; returns how many values were re-sealed. A value deleted
/// meanwhile makes its batch fail as a whole, and the next read no longer has it.
pub fn reseal(store: &dyn Store, keyring: &Keyring) -> Result<usize, RotationError> {
    let mut resealed = 0;
    let mut failures = 0;
    loop {
        let changes = reseal_changes(&store.load()?, keyring)?;
        if changes.is_empty() {
            return Ok(resealed);
        }
        for batch in changes.chunks(RESEAL_BATCH) {
            match store.apply(batch) {
                Ok(_) => resealed += batch.len(),
                Err(StoreError::NotFound) if failures + 1 < RESEAL_ATTEMPTS => {
                    failures += 1;
                    break;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }
}

/// How many stored sealed values each key of the keyring opens; `None` counts values no key
/// of it opens.
pub fn sealed_by_key(contents: &Contents, keyring: &Keyring) -> BTreeMap<Option<KeyId>, usize> {
    let mut census = BTreeMap::new();
    let check = contents
        .master_key_check
        .iter()
        .map(|sealed| (sealed, MASTER_KEY_CHECK_AAD.to_vec()));
    let keys = contents
        .access_keys
        .iter()
        .map(|k| (&k.sealed_secret, access_key_aad(&k.id)));
    let seeds = contents
        .mfa_devices
        .iter()
        .map(|d| (&d.sealed_seed, mfa_seed_aad(&d.serial)));
    let authenticators = contents
        .identity_mfa
        .iter()
        .map(|d| (&d.sealed_seed, identity_mfa_seed_aad(&d.user_id)));
    for (sealed, associated_data) in check.chain(keys).chain(seeds).chain(authenticators) {
        *census
            .entry(keyring.opener(sealed, &associated_data))
            .or_insert(0) += 1;
    }
    census
}
