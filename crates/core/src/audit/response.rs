//! `responseElements` of a write's event, read off the changes it commits.
//!
//! CloudTrail fills `responseElements` for calls that create something with the entity as
//! the response describes it (CreateUser's `user`, CreateAccessKey's `accessKey` without its
//! secret), and leaves it null for the rest. The event commits in the write's own
//! transaction, before the server has rendered its response, but the created entity is
//! already there, in the change that creates it: this renders that change. Secrets are never
//! in a change in the clear (a key's secret and an MFA seed are sealed, a password is a
//! hash) and none of them is read here; the result is redacted like the parameters anyway.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::state::State;
use crate::store::Change;

/// IAM's `createDate` as CloudTrail writes it in responseElements: "Nov 29, 2026, 1:02:03 AM".
fn iam_date(at: &DateTime<Utc>) -> String {
    at.format("%b %-d, %Y, %-I:%M:%S %p").to_string()
}

/// The response elements of the first change that creates something CloudTrail describes;
/// `None` when the write creates nothing (its event has null, as CloudTrail's has).
pub fn of_changes(changes: &[Change], state: &State) -> Option<Value> {
    // The name of a user who exists, or is made in the same batch.
    let user_name = |user_id: &str| {
        state
            .users
            .get(user_id)
            .map(|user| user.name.clone())
            .or_else(|| {
                changes.iter().find_map(|change| match change {
                    Change::CreateUser(user) if user.id == user_id => Some(user.name.clone()),
                    _ => None,
                })
            })
    };
    changes
        .iter()
        .find_map(|change| of_change(change, &user_name))
}

fn of_change(change: &Change, user_name: &dyn Fn(&str) -> Option<String>) -> Option<Value> {
    Some(match change {
        Change::CreateUser(user) => json!({
            "user": {
                "path": user.path,
                "userName": user.name,
                "userId": user.id,
                "arn": crate::model::user_arn(&user.account_id, &user.path, &user.name),
                "createDate": iam_date(&user.created),
            }
        }),
        Change::CreateGroup(group) => json!({
            "group": {
                "path": group.path,
                "groupName": group.name,
                "groupId": group.id,
                "arn": crate::model::group_arn(&group.account_id, &group.path, &group.name),
                "createDate": iam_date(&group.created),
            }
        }),
        Change::CreateRole(role) => json!({
            "role": {
                "path": role.path,
                "roleName": role.name,
                "roleId": role.id,
                "arn": crate::model::role_arn(&role.account_id, &role.path, &role.name),
                "createDate": iam_date(&role.created),
                "assumeRolePolicyDocument": role.trust_policy,
                "maxSessionDuration": role.max_session_duration,
            }
        }),
        Change::CreatePolicy(policy) => json!({
            "policy": {
                "policyName": policy.name,
                "policyId": policy.id,
                "arn": policy.arn,
                "path": policy.path,
                "defaultVersionId": "v1",
                "attachmentCount": 0,
                "permissionsBoundaryUsageCount": 0,
                "isAttachable": true,
                "createDate": iam_date(&policy.created),
                "updateDate": iam_date(&policy.created),
            }
        }),
        Change::CreateAccessKey(key) => {
            let mut element = json!({
                "accessKeyId": key.id,
                "status": key.status.as_str(),
                "createDate": iam_date(&key.created),
            });
            if let Some(name) = key.user_id.as_deref().and_then(user_name) {
                element["userName"] = name.into();
            }
            json!({ "accessKey": element })
        }
        Change::CreateLoginProfile(profile) => {
            let mut element = json!({
                "createDate": iam_date(&profile.created),
                "passwordResetRequired": profile.password_reset_required,
            });
            if let Some(name) = user_name(&profile.user_id) {
                element["userName"] = name.into();
            }
            json!({ "loginProfile": element })
        }
        Change::CreateMfaDevice(device) => json!({
            "virtualMFADevice": { "serialNumber": device.serial }
        }),
        Change::CreateIdentityStoreUser(user) => json!({
            "UserId": user.id,
            "IdentityStoreId": user.identity_store_id,
        }),
        Change::CreateIdentityStoreGroup(group) => json!({
            "GroupId": group.id,
            "IdentityStoreId": group.identity_store_id,
        }),
        Change::CreateGroupMembership(membership) => json!({
            "MembershipId": membership.id,
            "IdentityStoreId": membership.identity_store_id,
        }),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::store::{AccessKeyRow, UserRow};

    #[test]
    fn a_created_user_and_key_are_described_and_a_key_s_secret_is_not() {
        let at = Utc.with_ymd_and_hms(2026, 11, 29, 13, 2, 3).unwrap();
        let user = Change::CreateUser(UserRow {
            id: "AIDAEXAMPLE".into(),
            account_id: "123456789012".into(),
            name: "bob".into(),
            path: "/".into(),
            created: at,
        });
        let state = State::default();
        assert_eq!(
            of_changes(std::slice::from_ref(&user), &state),
            Some(json!({"user": {
                "path": "/", "userName": "bob", "userId": "AIDAEXAMPLE",
                "arn": "arn:aws:iam::123456789012:user/bob",
                "createDate": "Nov 29, 2026, 1:02:03 PM",
            }}))
        );
        let key = Change::CreateAccessKey(AccessKeyRow {
            id: "AKIAEXAMPLE".into(),
            account_id: "123456789012".into(),
            user_id: None,
            status: crate::model::KeyStatus::Active,
            created: at,
            sealed_secret: b"sealed".to_vec(),
            last_used: None,
        });
        let elements = of_changes(&[key], &state).unwrap();
        assert_eq!(elements["accessKey"]["accessKeyId"], "AKIAEXAMPLE");
        assert!(!elements.to_string().contains("sealed"));
        assert_eq!(of_changes(&[], &state), None);
    }
}
