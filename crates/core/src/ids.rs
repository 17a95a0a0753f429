//! Identifiers in the formats AWS uses, so that clients and tools that parse them keep working.

use data_encoding::BASE32_NOPAD;
use rand::{Rng, RngCore, TryRngCore, rngs::OsRng};

/// The operating system's CSPRNG; every identifier and secret is drawn from it directly.
pub(crate) fn os_rng() -> impl RngCore {
    OsRng.unwrap_err()
}

/// What an IAM unique id or access key id names; the prefix is part of the id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    User,
    Group,
    Policy,
    Role,
    AccessKey,
    TemporaryAccessKey,
}

impl IdKind {
    fn prefix(self) -> &'static str {
        match self {
            IdKind::User => "AIDA",
            IdKind::Group => "AGPA",
            IdKind::Policy => "ANPA",
            IdKind::Role => "AROA",
            IdKind::TemporaryAccessKey => "ASIA",
            IdKind::AccessKey => "AKIA",
        }
    }
}

/// A new 12-digit account id.
pub fn new_account_id() -> String {
    let mut rng = os_rng();
    // Real account ids never start with 0 in practice; clients that treat them as numbers
    // would lose the digit.
    let first = rng.random_range(1..=9u8);
    let mut id = first.to_string();
    for _ in 0..11 {
        id.push(char::from(b'0' + rng.random_range(0..10u8)));
    }
    id
}

/// A unique id such as `AIDA` + 17 base32 characters (85 random bits).
pub fn new_unique_id(kind: IdKind) -> String {
    let mut bytes = [0u8; 11];
    os_rng().fill_bytes(&mut bytes);
    let encoded = BASE32_NOPAD.encode(&bytes);
    format!("{}{}", kind.prefix(), &encoded[..17])
}

/// `n` random lowercase letters and digits, for request ids.
pub fn random_lowercase(n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = os_rng();
    (0..n)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// `n` random lowercase hexadecimal digits.
fn random_hex(n: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdef";
    let mut rng = os_rng();
    (0..n)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// An IAM Identity Center instance id: `ssoins-` and 16 hex digits, as AWS makes them.
pub fn new_sso_instance_id() -> String {
    format!("ssoins-{}", random_hex(16))
}

/// A permission set id: `ps-` and 16 hex digits, as AWS makes them.
pub fn new_permission_set_id() -> String {
    format!("ps-{}", random_hex(16))
}

/// The random part of a role Identity Center provisions (`AWSReservedSSO_<name>_<this>`):
/// 16 hex digits.
pub fn new_reserved_role_suffix() -> String {
    random_hex(16)
}

/// A request id of SSO Admin's asynchronous operations: a random (version 4) UUID.
pub fn new_request_uuid() -> String {
    let mut bytes = [0u8; 16];
    os_rng().fill_bytes(&mut bytes);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// An identity store id: `d-` and 10 hex digits, the shape the Identity Store model's
/// pattern (`d-[0-9a-f]{10}`) accepts.
pub fn new_identity_store_id() -> String {
    format!("d-{}", random_hex(10))
}

/// A user, group or membership id in an identity store: the store id's 10 digits, `-`, and
/// a random (version 4) UUID, as AWS forms them (`([0-9a-f]{10}-|)<uuid>`).
pub fn new_identity_store_resource_id(identity_store_id: &str) -> String {
    let mut bytes = [0u8; 16];
    os_rng().fill_bytes(&mut bytes);
    let uuid = uuid::Builder::from_random_bytes(bytes).into_uuid();
    let digits = identity_store_id
        .strip_prefix("d-")
        .unwrap_or(identity_store_id);
    format!("{digits}-{}", uuid.hyphenated())
}

/// A stable `ANPA` id for an AWS managed policy, derived from its name so that it is the
/// same on every instance and every start.
pub fn aws_managed_policy_id(name: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(name.as_bytes());
    let encoded = BASE32_NOPAD.encode(&digest[..11]);
    format!("ANPA{}", &encoded[..17])
}

/// A new access key id: `AKIA` + 16 base32 characters carrying 80 bits laid out as AWS lays
/// them: a 1-bit "new format" flag, the 40-bit account id, then 39 random bits. STS
/// `GetAccessKeyInfo` decodes the account from the id alone, as AWS does.
pub fn new_access_key_id(account_id: &str) -> String {
    new_access_key_id_of_kind(IdKind::AccessKey, account_id)
}

/// A new key id of the given kind (`AKIA` long-term, `ASIA` temporary) in AWS's layout.
pub fn new_access_key_id_of_kind(kind: IdKind, account_id: &str) -> String {
    let account: u64 = account_id.parse().unwrap_or(0);
    let random = os_rng().next_u64() & ((1 << 39) - 1);
    let value: u128 = (1u128 << 79) | ((account as u128 & ((1 << 40) - 1)) << 39) | random as u128;
    let bytes = value.to_be_bytes();
    format!("{}{}", kind.prefix(), BASE32_NOPAD.encode(&bytes[6..16]))
}

/// The account id an access key id encodes (`AKIA`/`ASIA` keys of the current format), or
/// `None` when the id is not of that format.
pub fn account_of_access_key_id(access_key_id: &str) -> Option<String> {
    let body = access_key_id.get(4..20)?;
    if access_key_id.len() != 20 {
        return None;
    }
    let bytes = BASE32_NOPAD.decode(body.as_bytes()).ok()?;
    let mut first_six = [0u8; 8];
    first_six[2..8].copy_from_slice(bytes.get(..6)?);
    let z = u64::from_be_bytes(first_six);
    let account = (z & 0x7fff_ffff_ff80) >> 7;
    Some(format!("{account:012}"))
}

/// A 40-character secret access key: 30 bytes from the operating system's CSPRNG, base64.
pub fn new_secret_access_key() -> zeroize::Zeroizing<String> {
    use base64::Engine;
    let mut bytes = zeroize::Zeroizing::new([0u8; 30]);
    os_rng().fill_bytes(bytes.as_mut());
    zeroize::Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(bytes.as_ref()))
}

/// A console password that satisfies any password policy AWS allows: 24 characters with
/// upper and lower case letters, digits and symbols.
pub fn new_console_password() -> zeroize::Zeroizing<String> {
    const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const DIGITS: &[u8] = b"23456789";
    const SYMBOLS: &[u8] = b"!@#$%^&*()-_=+";
    let mut rng = os_rng();
    let classes = [LOWER, UPPER, DIGITS, SYMBOLS];
    let mut chars: Vec<u8> = classes
        .iter()
        .map(|class| class[rng.random_range(0..class.len())])
        .collect();
    let all: Vec<u8> = classes.concat();
    while chars.len() < 24 {
        chars.push(all[rng.random_range(0..all.len())]);
    }
    // Fisher-Yates, so the guaranteed characters are not always first.
    for i in (1..chars.len()).rev() {
        chars.swap(i, rng.random_range(0..=i));
    }
    zeroize::Zeroizing::new(chars.into_iter().map(char::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_the_published_example() {
        // A key id from the public write-ups on the format.
        assert_eq!(
            account_of_access_key_id("ASIAY34FZKBOKMUTVV7A").as_deref(),
            Some("609629065308")
        );
        assert_eq!(
            account_of_access_key_id("AKIARZPUZDIKAKMANKZD").as_deref(),
            Some("123456789012")
        );
    }

    #[test]
    fn ids_have_aws_shapes() {
        let user = new_unique_id(IdKind::User);
        assert!(user.starts_with("AIDA") && user.len() == 21);
        assert!(
            user[4..]
                .bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
        );
        let secret = new_secret_access_key();
        assert_eq!(secret.len(), 40);
        let account = new_account_id();
        assert!(account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()));
        let password = new_console_password();
        assert_eq!(password.len(), 24);
        let instance = new_sso_instance_id();
        assert!(instance.starts_with("ssoins-") && instance.len() == 23);
        let store = new_identity_store_id();
        assert!(store.starts_with("d-") && store.len() == 12);
        assert!(
            store[2..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        let resource = new_identity_store_resource_id(&store);
        assert_eq!(resource.len(), 10 + 1 + 36);
        assert!(resource.starts_with(&format!("{}-", &store[2..])));
        assert_eq!(
            &resource[11 + 14..11 + 15],
            "4",
            "a version 4 UUID: {resource}"
        );
    }

    proptest! {
        #[test]
        fn access_key_ids_round_trip_their_account(account in 0u64..1_000_000_000_000) {
            let account = format!("{account:012}");
            let id = new_access_key_id(&account);
            prop_assert_eq!(id.len(), 20);
            prop_assert!(id.starts_with("AKIA"));
            prop_assert!(id[4..].bytes().all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)));
            prop_assert_eq!(account_of_access_key_id(&id), Some(account));
        }

        #[test]
        fn decoding_never_panics(id in ".{0,40}") {
            let _ = account_of_access_key_id(&id);
        }
    }
}
