//! IAM's size quotas for policy documents ("IAM and AWS STS quotas").
//!
//! IAM does not count white space toward these limits, so callers compare
//! [`non_whitespace_len`] with the constant that applies.

/// One managed policy (each version).
pub const MANAGED_POLICY: usize = 6144;
/// All inline policies of one user, together.
pub const USER_INLINE: usize = 2048;
/// All inline policies of one group, together.
pub const GROUP_INLINE: usize = 5120;
/// All inline policies of one role, together.
pub const ROLE_INLINE: usize = 10240;
/// A role trust policy (`ACLSizePerRole`).
pub const TRUST_POLICY: usize = 2048;

/// Characters that count toward a quota: all but white space.
pub fn non_whitespace_len(document: &str) -> usize {
    document.chars().filter(|c| !c.is_whitespace()).count()
}

/// Whether `document` fits in `limit` counted characters.
pub fn fits(document: &str, limit: usize) -> bool {
    non_whitespace_len(document) <= limit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn white_space_does_not_count() {
        assert_eq!(non_whitespace_len("{ \"a\" :\n\t1 }"), 7);
        assert_eq!(non_whitespace_len("é é"), 2);
        let padded = format!("{{{}}}", " ".repeat(10_000));
        assert!(fits(&padded, TRUST_POLICY));
        assert!(!fits(&"x".repeat(USER_INLINE + 1), USER_INLINE));
    }
}
