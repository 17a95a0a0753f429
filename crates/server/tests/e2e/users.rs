//! Users: listing, deletion, the credential report, and what a user may do with and without
//! the self-service access key policy.

use std::collections::BTreeSet;

use aws_sdk_iam::types::ReportFormatType;

use crate::harness::{
    SELF_SERVICE_KEYS_POLICY, assert_denied, assert_fails, create_access_key, server, unique_name,
};

#[tokio::test]
async fn list_users_pages_through_a_path_prefix() {
    let server = server();
    let iam = server.admin_iam().await;
    let prefix = format!("/{}/", unique_name("paging"));
    let mut created = BTreeSet::new();
    for _ in 0..5 {
        let name = unique_name("pager");
        iam.create_user()
            .user_name(&name)
            .path(&prefix)
            .send()
            .await
            .expect("CreateUser with a path");
        created.insert(name);
    }

    // By hand, following Marker.
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = iam
            .list_users()
            .path_prefix(&prefix)
            .max_items(2)
            .set_marker(marker.take())
            .send()
            .await
            .expect("ListUsers");
        pages.push(page.users().len());
        for user in page.users() {
            assert_eq!(user.path(), prefix);
            assert_eq!(
                user.arn(),
                format!(
                    "arn:aws:iam::{}:user{prefix}{}",
                    server.account_id,
                    user.user_name()
                )
            );
            seen.push(user.user_name().to_owned());
        }
        if !page.is_truncated() {
            assert!(page.marker().is_none(), "a last page has no Marker");
            break;
        }
        marker = Some(
            page.marker()
                .expect("a truncated page has a Marker")
                .to_owned(),
        );
        assert!(pages.len() < 10, "ListUsers does not end: {pages:?}");
    }
    assert_eq!(pages, [2, 2, 1]);
    assert_eq!(
        seen.len(),
        created.len(),
        "every user exactly once: {seen:?}"
    );
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), created);

    // The SDK's paginator.
    let users = iam
        .list_users()
        .path_prefix(&prefix)
        .max_items(2)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("ListUsers paginator");
    let names: Vec<String> = users.iter().map(|u| u.user_name().to_owned()).collect();
    assert_eq!(
        names.len(),
        created.len(),
        "every user exactly once: {names:?}"
    );
    assert_eq!(names.into_iter().collect::<BTreeSet<_>>(), created);
}

#[tokio::test]
async fn delete_user_conflicts_while_it_has_a_key() {
    let server = server();
    let name = unique_name("delete");
    let keys = server.create_user_with_key(&name).await;
    let iam = server.admin_iam().await;

    assert_fails(
        iam.delete_user().user_name(&name).send().await,
        "DeleteConflict",
        409,
    );
    iam.get_user()
        .user_name(&name)
        .send()
        .await
        .expect("the user is still there");

    iam.delete_access_key()
        .user_name(&name)
        .access_key_id(&keys.access_key_id)
        .send()
        .await
        .expect("DeleteAccessKey");
    iam.delete_user()
        .user_name(&name)
        .send()
        .await
        .expect("DeleteUser without keys");
    assert_fails(
        iam.get_user().user_name(&name).send().await,
        "NoSuchEntity",
        404,
    );
    assert_fails(
        iam.delete_user().user_name(&name).send().await,
        "NoSuchEntity",
        404,
    );
}

#[tokio::test]
async fn credential_report_has_a_row_for_a_new_user() {
    let server = server();
    let name = unique_name("report");
    server.create_user_with_key(&name).await;
    let iam = server.admin_iam().await;

    // The only test that generates a report, so no cached report predates the user.
    let generated = iam
        .generate_credential_report()
        .send()
        .await
        .expect("GenerateCredentialReport");
    assert!(generated.state().is_some());

    let report = iam
        .get_credential_report()
        .send()
        .await
        .expect("GetCredentialReport");
    assert_eq!(report.report_format(), Some(&ReportFormatType::TextCsv));
    assert!(report.generated_time().is_some());
    let content = report.content().expect("Content").as_ref();
    let csv = std::str::from_utf8(content).expect("the report is UTF-8");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,\
             password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,\
             access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,\
             access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,\
             access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,\
             cert_1_last_rotated,cert_2_active,cert_2_last_rotated"
        )
    );
    let row_start = format!("{name},{},", server.user_arn(&name));
    let row = lines
        .find(|line| line.starts_with(&row_start))
        .unwrap_or_else(|| panic!("no row for {name} in:\n{csv}"));
    let fields: Vec<&str> = row.split(',').collect();
    assert_eq!(fields.len(), 22, "{row}");
    assert_eq!(fields[8], "true", "access_key_1_active: {row}");
    assert_eq!(fields[13], "false", "access_key_2_active: {row}");
}

#[tokio::test]
async fn a_plain_user_manages_only_its_own_keys() {
    let server = server();
    let name = unique_name("plain");
    let keys = server.create_user_with_key(&name).await;
    let arn = server.user_arn(&name);
    let iam = server.iam(&keys).await;
    let admin = server.admin_iam().await;

    // Without a policy every IAM call is denied, managing one's own keys included.
    assert_denied(
        iam.create_access_key().send().await,
        &arn,
        "iam:CreateAccessKey",
        &arn,
    );
    assert_denied(
        iam.list_access_keys().send().await,
        &arn,
        "iam:ListAccessKeys",
        &arn,
    );
    assert_denied(
        iam.delete_access_key()
            .access_key_id(&keys.access_key_id)
            .send()
            .await,
        &arn,
        "iam:DeleteAccessKey",
        &arn,
    );
    // sts:GetCallerIdentity needs no permission.
    let identity = server
        .sts(&keys)
        .await
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity without any policy");
    assert_eq!(identity.arn(), Some(arn.as_str()));

    // The AWS-documented self-service policy, as a customer managed policy.
    let policy = admin
        .create_policy()
        .policy_name(unique_name("ManageOwnAccessKeys"))
        .description("Allows IAM users to manage their own access keys")
        .policy_document(SELF_SERVICE_KEYS_POLICY)
        .send()
        .await
        .expect("CreatePolicy");
    let policy_arn = policy
        .policy()
        .and_then(|p| p.arn())
        .expect("CreatePolicy returns the policy's Arn")
        .to_owned();
    admin
        .attach_user_policy()
        .user_name(&name)
        .policy_arn(&policy_arn)
        .send()
        .await
        .expect("AttachUserPolicy");

    let not_allowed = unique_name("not-allowed");
    assert_denied(
        iam.create_user().user_name(&not_allowed).send().await,
        &arn,
        "iam:CreateUser",
        &server.user_arn(&not_allowed),
    );
    assert_denied(
        iam.list_users().send().await,
        &arn,
        "iam:ListUsers",
        &format!("arn:aws:iam::{}:user/", server.account_id),
    );
    assert_denied(
        iam.create_access_key().user_name("admin").send().await,
        &arn,
        "iam:CreateAccessKey",
        &server.user_arn("admin"),
    );
    assert_denied(
        iam.list_access_keys().user_name("admin").send().await,
        &arn,
        "iam:ListAccessKeys",
        &server.user_arn("admin"),
    );

    // No UserName: the key is the caller's.
    let second = create_access_key(&iam, None).await;
    let listed = iam
        .list_access_keys()
        .send()
        .await
        .expect("ListAccessKeys of self");
    let mut ids: Vec<&str> = listed
        .access_key_metadata()
        .iter()
        .map(|k| {
            assert_eq!(k.user_name(), Some(name.as_str()));
            k.access_key_id().expect("AccessKeyId")
        })
        .collect();
    ids.sort_unstable();
    let mut expected = vec![keys.access_key_id.as_str(), second.access_key_id.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected);

    // The new key works and belongs to the same user.
    let identity = server
        .sts(&second)
        .await
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity with the self-made key");
    assert_eq!(identity.arn(), Some(arn.as_str()));

    iam.delete_access_key()
        .access_key_id(&second.access_key_id)
        .send()
        .await
        .expect("DeleteAccessKey of self");
    let listed = iam
        .list_access_keys()
        .send()
        .await
        .expect("ListAccessKeys of self");
    assert_eq!(listed.access_key_metadata().len(), 1);

    // Detached, the policy no longer applies: the very next request is denied.
    admin
        .detach_user_policy()
        .user_name(&name)
        .policy_arn(&policy_arn)
        .send()
        .await
        .expect("DetachUserPolicy");
    assert_denied(
        iam.list_access_keys().send().await,
        &arn,
        "iam:ListAccessKeys",
        &arn,
    );
}
