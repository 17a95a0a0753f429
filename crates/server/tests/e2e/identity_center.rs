//! IAM Identity Center through the SDK: the Identity Store (users, groups, memberships,
//! filtered listings) and SSO Admin (a permission set with AdministratorAccess assigned to a
//! person, its status, the listing, and the reserved role it provisions, seen through IAM).

use std::time::Duration;

use aws_sdk_identitystore::types::{AlternateIdentifier, Filter, MemberId, Name, UniqueAttribute};
use aws_sdk_ssoadmin::types::{PrincipalType, StatusValues, TargetType};
use aws_smithy_types::Document;

use crate::harness::{assert_fails, server, unique_name};

const ADMINISTRATOR_ACCESS: &str = "arn:aws:iam::aws:policy/AdministratorAccess";
const RESERVED_PATH: &str = "/aws-reserved/sso.amazonaws.com/";

async fn identity_store_id(sso: &aws_sdk_ssoadmin::Client) -> (String, String) {
    let instances = sso.list_instances().send().await.unwrap();
    let instance = &instances.instances()[0];
    (
        instance.instance_arn().unwrap().to_owned(),
        instance.identity_store_id().unwrap().to_owned(),
    )
}

fn equals(path: &str, value: &str) -> Filter {
    Filter::builder()
        .attribute_path(path)
        .attribute_value(value)
        .build()
        .unwrap()
}

/// ListUsers with a `UserName` filter: the user ids.
#[expect(
    deprecated,
    reason = "the SDK deprecates ListUsers filters in favour of GetUserId (tested too), but AWS serves them and tools still send them"
)]
async fn users_named(ids: &aws_sdk_identitystore::Client, store: &str, name: &str) -> Vec<String> {
    let listed = ids
        .list_users()
        .identity_store_id(store)
        .filters(equals("UserName", name))
        .send()
        .await
        .unwrap();
    listed
        .users()
        .iter()
        .map(|u| u.user_id().to_owned())
        .collect()
}

/// ListGroups with a `DisplayName` filter: the group ids.
#[expect(
    deprecated,
    reason = "the SDK deprecates ListGroups filters in favour of GetGroupId, but AWS serves them and tools still send them"
)]
async fn groups_named(ids: &aws_sdk_identitystore::Client, store: &str, name: &str) -> Vec<String> {
    let listed = ids
        .list_groups()
        .identity_store_id(store)
        .filters(equals("DisplayName", name))
        .send()
        .await
        .unwrap();
    listed
        .groups()
        .iter()
        .map(|g| g.group_id().to_owned())
        .collect()
}

#[tokio::test]
async fn users_groups_and_memberships_are_created_listed_described_and_deleted() {
    let server = server();
    let sso = server.admin_sso_admin().await;
    let ids = server.admin_identitystore().await;
    let (_, store) = identity_store_id(&sso).await;
    let name = unique_name("person");
    let user_id = ids
        .create_user()
        .identity_store_id(&store)
        .user_name(&name)
        .display_name("Pat Person")
        .name(
            Name::builder()
                .given_name("Pat")
                .family_name("Person")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .user_id()
        .to_owned();
    let described = ids
        .describe_user()
        .identity_store_id(&store)
        .user_id(&user_id)
        .send()
        .await
        .unwrap();
    assert_eq!(described.user_name(), Some(name.as_str()));
    assert_eq!(described.display_name(), Some("Pat Person"));
    assert_eq!(
        described.name().and_then(|n| n.family_name()),
        Some("Person")
    );
    assert_eq!(
        users_named(&ids, &store, &name).await,
        vec![user_id.clone()]
    );
    // GetUserId, the SDK's recommended lookup, finds the same user.
    let found = ids
        .get_user_id()
        .identity_store_id(&store)
        .alternate_identifier(AlternateIdentifier::UniqueAttribute(
            UniqueAttribute::builder()
                .attribute_path("userName")
                .attribute_value(Document::String(name.clone()))
                .build()
                .unwrap(),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(found.user_id(), user_id);

    let group_name = unique_name("Team");
    let group_id = ids
        .create_group()
        .identity_store_id(&store)
        .display_name(&group_name)
        .send()
        .await
        .unwrap()
        .group_id()
        .to_owned();
    let membership_id = ids
        .create_group_membership()
        .identity_store_id(&store)
        .group_id(&group_id)
        .member_id(MemberId::UserId(user_id.clone()))
        .send()
        .await
        .unwrap()
        .membership_id()
        .to_owned();
    let members = ids
        .list_group_memberships()
        .identity_store_id(&store)
        .group_id(&group_id)
        .send()
        .await
        .unwrap();
    let members: Vec<&str> = members
        .group_memberships()
        .iter()
        .map(|m| m.membership_id())
        .collect();
    assert_eq!(members, vec![membership_id.as_str()]);
    assert_eq!(
        groups_named(&ids, &store, &group_name).await,
        vec![group_id.clone()]
    );

    // Deleting the user takes its membership with it.
    ids.delete_user()
        .identity_store_id(&store)
        .user_id(&user_id)
        .send()
        .await
        .unwrap();
    assert_fails(
        ids.describe_user()
            .identity_store_id(&store)
            .user_id(&user_id)
            .send()
            .await,
        "ResourceNotFoundException",
        400,
    );
    assert_fails(
        ids.describe_group_membership()
            .identity_store_id(&store)
            .membership_id(&membership_id)
            .send()
            .await,
        "ResourceNotFoundException",
        400,
    );
    ids.delete_group()
        .identity_store_id(&store)
        .group_id(&group_id)
        .send()
        .await
        .unwrap();
    assert_fails(
        ids.describe_group()
            .identity_store_id(&store)
            .group_id(&group_id)
            .send()
            .await,
        "ResourceNotFoundException",
        400,
    );
}

#[tokio::test]
async fn an_assignment_provisions_the_permission_set_as_a_reserved_role() {
    let server = server();
    let sso = server.admin_sso_admin().await;
    let ids = server.admin_identitystore().await;
    let iam = server.admin_iam().await;
    let (instance, store) = identity_store_id(&sso).await;
    let account = server.account_id.clone();
    let user_id = ids
        .create_user()
        .identity_store_id(&store)
        .user_name(unique_name("admin-person"))
        .display_name("Ada Admin")
        .send()
        .await
        .unwrap()
        .user_id()
        .to_owned();
    let ps_name = unique_name("Admins");
    let permission_set = sso
        .create_permission_set()
        .instance_arn(&instance)
        .name(&ps_name)
        .session_duration("PT2H")
        .send()
        .await
        .unwrap();
    let ps_arn = permission_set
        .permission_set()
        .and_then(|ps| ps.permission_set_arn())
        .unwrap()
        .to_owned();
    sso.attach_managed_policy_to_permission_set()
        .instance_arn(&instance)
        .permission_set_arn(&ps_arn)
        .managed_policy_arn(ADMINISTRATOR_ACCESS)
        .send()
        .await
        .unwrap();
    let created = sso
        .create_account_assignment()
        .instance_arn(&instance)
        .target_id(&account)
        .target_type(TargetType::AwsAccount)
        .permission_set_arn(&ps_arn)
        .principal_type(PrincipalType::User)
        .principal_id(&user_id)
        .send()
        .await
        .unwrap();
    let request_id = created
        .account_assignment_creation_status()
        .and_then(|s| s.request_id())
        .unwrap()
        .to_owned();
    // Wait for the request as a client would (latchkey finishes it in the call).
    let mut status = None;
    for _ in 0..50 {
        let described = sso
            .describe_account_assignment_creation_status()
            .instance_arn(&instance)
            .account_assignment_creation_request_id(&request_id)
            .send()
            .await
            .unwrap();
        let current = described
            .account_assignment_creation_status()
            .and_then(|s| s.status())
            .cloned();
        if current != Some(StatusValues::InProgress) {
            status = current;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, Some(StatusValues::Succeeded));

    let assignments = sso
        .list_account_assignments()
        .instance_arn(&instance)
        .account_id(&account)
        .permission_set_arn(&ps_arn)
        .send()
        .await
        .unwrap();
    let principals: Vec<(Option<&PrincipalType>, Option<&str>)> = assignments
        .account_assignments()
        .iter()
        .map(|a| (a.principal_type(), a.principal_id()))
        .collect();
    assert_eq!(
        principals,
        vec![(Some(&PrincipalType::User), Some(user_id.as_str()))]
    );

    // The reserved role exists in the account, with the permission set's policy.
    let roles = iam
        .list_roles()
        .path_prefix(RESERVED_PATH)
        .send()
        .await
        .unwrap();
    let prefix = format!("AWSReservedSSO_{ps_name}_");
    let role_name = roles
        .roles()
        .iter()
        .map(|r| r.role_name())
        .find(|n| n.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {prefix}* role"))
        .to_owned();
    let role = iam.get_role().role_name(&role_name).send().await.unwrap();
    let role = role.role().unwrap();
    assert_eq!(role.path(), RESERVED_PATH);
    assert_eq!(role.max_session_duration(), Some(7200));
    let attached = iam
        .list_attached_role_policies()
        .role_name(&role_name)
        .send()
        .await
        .unwrap();
    let attached: Vec<Option<&str>> = attached
        .attached_policies()
        .iter()
        .map(|p| p.policy_arn())
        .collect();
    assert_eq!(attached, vec![Some(ADMINISTRATOR_ACCESS)]);

    // Deleting the person removes the assignment and, it being the last, the role.
    ids.delete_user()
        .identity_store_id(&store)
        .user_id(&user_id)
        .send()
        .await
        .unwrap();
    assert_fails(
        iam.get_role().role_name(&role_name).send().await,
        "NoSuchEntity",
        404,
    );
}
