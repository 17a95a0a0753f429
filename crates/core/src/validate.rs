//! Input rules of the IAM API model, with the messages AWS sends when they are broken.

use crate::error::{ErrorCode, IamError};
use crate::model::Tag;

fn validation(message: String) -> IamError {
    IamError::new(ErrorCode::ValidationError, message)
}

/// `userNameType`: 1–64 characters of `[\w+=,.@-]`.
pub fn user_name(field: &str, name: &str) -> Result<(), IamError> {
    entity_name(field, name, 64)
}

/// Group, policy and inline policy names: 1–128 characters of `[\w+=,.@-]`.
pub fn name_128(field: &str, name: &str) -> Result<(), IamError> {
    entity_name(field, name, 128)
}

/// `virtualMFADeviceName`: 1–226 characters of `[\w+=,.@-]`.
pub fn mfa_device_name(name: &str) -> Result<(), IamError> {
    entity_name("virtualMFADeviceName", name, 226)
}

fn entity_name(field: &str, name: &str, max: usize) -> Result<(), IamError> {
    if name.is_empty() {
        return Err(validation(format!(
            "1 validation error detected: Value '{name}' at '{field}' failed to satisfy constraint: Member must have length greater than or equal to 1"
        )));
    }
    if name.chars().count() > max {
        return Err(validation(format!(
            "1 validation error detected: Value '{name}' at '{field}' failed to satisfy constraint: Member must have length less than or equal to {max}"
        )));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    {
        return Err(validation(format!(
            "1 validation error detected: Value '{name}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+"
        )));
    }
    Ok(())
}

/// `pathType`: `/` or `/…/` of printable ASCII, at most 512 characters.
pub fn path(field: &str, path: &str) -> Result<(), IamError> {
    let valid = path.len() <= 512
        && path.starts_with('/')
        && path.ends_with('/')
        && path.bytes().all(|b| (0x21..=0x7e).contains(&b))
        && !path.contains("//");
    if valid {
        Ok(())
    } else {
        Err(IamError::new(
            ErrorCode::ValidationError,
            format!(
                "The specified value for {field} is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters."
            ),
        ))
    }
}

/// `pathPrefixType`: `/` followed by printable ASCII, at most 512 characters.
pub fn path_prefix(prefix: &str) -> Result<(), IamError> {
    if prefix.len() <= 512
        && prefix.starts_with('/')
        && prefix.bytes().all(|b| (0x21..=0x7e).contains(&b))
    {
        Ok(())
    } else {
        Err(validation(format!(
            "1 validation error detected: Value '{prefix}' at 'pathPrefix' failed to satisfy constraint: Member must satisfy regular expression pattern: \\u002F[\\u0021-\\u007F]*"
        )))
    }
}

/// `accessKeyIdType`: 16–128 word characters.
pub fn access_key_id(id: &str) -> Result<(), IamError> {
    if (16..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        Ok(())
    } else {
        Err(validation(format!(
            "1 validation error detected: Value '{id}' at 'accessKeyId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w]+"
        )))
    }
}

fn tag_key_char(c: char) -> bool {
    c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c)
}

fn tag_value_char(c: char) -> bool {
    tag_key_char(c)
}

/// `tagKeyType` (1–128) and `tagValueType` (0–256), letters, digits, spaces and `_.:/=+-@`.
pub fn tags(tags: &[Tag]) -> Result<(), IamError> {
    for tag in tags {
        tag_key(&tag.key)?;
        let length = tag.value.chars().count();
        if length > 256 {
            return Err(validation(format!(
                "1 validation error detected: Value '{}' at 'tags.{}.member.value' failed to satisfy constraint: Member must have length less than or equal to 256",
                tag.value, tag.key
            )));
        }
        if !tag.value.chars().all(tag_value_char) {
            return Err(validation(format!(
                "1 validation error detected: Value '{}' at 'tags.{}.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{{L}}\\p{{Z}}\\p{{N}}_.:/=+\\-@]*",
                tag.value, tag.key
            )));
        }
    }
    for (index, tag) in tags.iter().enumerate() {
        if tags[..index]
            .iter()
            .any(|t| t.key.eq_ignore_ascii_case(&tag.key))
        {
            return Err(IamError::new(
                ErrorCode::InvalidInput,
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
            ));
        }
    }
    Ok(())
}

pub fn tag_key(key: &str) -> Result<(), IamError> {
    let length = key.chars().count();
    if length == 0 || length > 128 {
        return Err(validation(format!(
            "1 validation error detected: Value '{key}' at 'tagKey' failed to satisfy constraint: Member must have length {}",
            if length == 0 {
                "greater than or equal to 1"
            } else {
                "less than or equal to 128"
            }
        )));
    }
    if !key.chars().all(tag_key_char) {
        return Err(validation(format!(
            "1 validation error detected: Value '{key}' at 'tagKey' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{{L}}\\p{{Z}}\\p{{N}}_.:/=+\\-@]+"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names() {
        assert!(user_name("userName", "alice.smith+ops@example=1,2_-").is_ok());
        assert!(user_name("userName", "").is_err());
        assert!(user_name("userName", "bad name!").is_err());
        assert!(user_name("userName", &"a".repeat(64)).is_ok());
        assert!(user_name("userName", &"a".repeat(65)).is_err());
        assert!(user_name("userName", "élan").is_err());
    }

    #[test]
    fn paths() {
        assert!(path("path", "/").is_ok());
        assert!(path("path", "/eng/team-1/").is_ok());
        assert!(path("path", "eng/").is_err());
        assert!(path("path", "/eng").is_err());
        assert!(path("path", "/a b/").is_err());
        assert!(path("path", "//").is_err());
    }

    #[test]
    fn tag_rules() {
        let tag = |k: &str, v: &str| Tag {
            key: k.into(),
            value: v.into(),
        };
        assert!(tags(&[tag("team", "red"), tag("cost-center", "")]).is_ok());
        assert!(tags(&[tag("", "x")]).is_err());
        assert!(tags(&[tag(&"k".repeat(129), "x")]).is_err());
        assert!(tags(&[tag("k", &"v".repeat(257))]).is_err());
        assert!(tags(&[tag("Team", "a"), tag("team", "b")]).is_err());
        assert!(tags(&[tag("a<b", "x")]).is_err());
    }
}
