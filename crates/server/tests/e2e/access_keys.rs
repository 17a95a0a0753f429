//! Access keys: the per-user limit, status changes, deletion and signature checks.

use aws_sdk_iam::types::StatusType;

use crate::harness::{Keys, assert_fails, create_access_key, server, unique_name};

#[tokio::test]
async fn a_third_access_key_is_limit_exceeded() {
    let server = server();
    let name = unique_name("limit");
    let iam = server.admin_iam().await;
    server.create_user_with_key(&name).await;
    create_access_key(&iam, Some(&name)).await;

    let third = iam.create_access_key().user_name(&name).send().await;
    assert_fails(third, "LimitExceeded", 409);

    let listed = iam
        .list_access_keys()
        .user_name(&name)
        .send()
        .await
        .expect("ListAccessKeys");
    assert_eq!(listed.access_key_metadata().len(), 2);
}

#[tokio::test]
async fn inactive_deleted_and_unknown_keys_are_rejected() {
    let server = server();
    let name = unique_name("status");
    let keys = server.create_user_with_key(&name).await;
    let iam = server.admin_iam().await;
    let user_sts = server.sts(&keys).await;
    let set_status = |status: StatusType| {
        iam.update_access_key()
            .user_name(&name)
            .access_key_id(&keys.access_key_id)
            .status(status)
            .send()
    };

    user_sts
        .get_caller_identity()
        .send()
        .await
        .expect("an active key works");

    set_status(StatusType::Inactive)
        .await
        .expect("UpdateAccessKey Inactive");
    assert_fails(
        user_sts.get_caller_identity().send().await,
        "InvalidClientTokenId",
        403,
    );

    set_status(StatusType::Active)
        .await
        .expect("UpdateAccessKey Active");
    user_sts
        .get_caller_identity()
        .send()
        .await
        .expect("a key made active again works");

    iam.delete_access_key()
        .user_name(&name)
        .access_key_id(&keys.access_key_id)
        .send()
        .await
        .expect("DeleteAccessKey");
    assert_fails(
        user_sts.get_caller_identity().send().await,
        "InvalidClientTokenId",
        403,
    );
}

#[tokio::test]
async fn an_unknown_key_and_a_wrong_secret_are_rejected() {
    let server = server();
    let unknown = Keys {
        access_key_id: "AKIAIOSFODNN7EXAMPLE".to_owned(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned(),
    };
    assert_fails(
        server
            .sts(&unknown)
            .await
            .get_caller_identity()
            .send()
            .await,
        "InvalidClientTokenId",
        403,
    );
    assert_fails(
        server.iam(&unknown).await.list_users().send().await,
        "InvalidClientTokenId",
        403,
    );

    let keys = server
        .create_user_with_key(&unique_name("wrong-secret"))
        .await;
    let mut secret: Vec<char> = keys.secret_access_key.chars().collect();
    secret[0] = if secret[0] == 'A' { 'B' } else { 'A' };
    let wrong_secret = Keys {
        access_key_id: keys.access_key_id.clone(),
        secret_access_key: secret.into_iter().collect(),
    };
    assert_fails(
        server
            .sts(&wrong_secret)
            .await
            .get_caller_identity()
            .send()
            .await,
        "SignatureDoesNotMatch",
        403,
    );
    assert_fails(
        server
            .iam(&wrong_secret)
            .await
            .list_access_keys()
            .send()
            .await,
        "SignatureDoesNotMatch",
        403,
    );
}

#[tokio::test]
async fn last_used_reports_the_service_and_signing_region() {
    let server = server();
    let name = unique_name("last-used");
    let keys = server.create_user_with_key(&name).await;
    let iam = server.admin_iam().await;

    let before = iam
        .get_access_key_last_used()
        .access_key_id(&keys.access_key_id)
        .send()
        .await
        .expect("GetAccessKeyLastUsed before use");
    assert_eq!(before.user_name(), Some(name.as_str()));
    let never = before.access_key_last_used().expect("AccessKeyLastUsed");
    assert_eq!((never.service_name(), never.region()), ("N/A", "N/A"));
    assert!(never.last_used_date().is_none());

    let identity = server
        .sts_in(&keys, "ap-southeast-2")
        .await
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity signed for ap-southeast-2");
    assert_eq!(identity.arn(), Some(server.user_arn(&name).as_str()));

    let after = iam
        .get_access_key_last_used()
        .access_key_id(&keys.access_key_id)
        .send()
        .await
        .expect("GetAccessKeyLastUsed after use");
    let used = after.access_key_last_used().expect("AccessKeyLastUsed");
    assert_eq!(
        (used.service_name(), used.region()),
        ("sts", "ap-southeast-2")
    );
    assert!(used.last_used_date().is_some());
}
