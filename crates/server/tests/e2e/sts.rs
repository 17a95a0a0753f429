//! STS: who a key belongs to.

use crate::harness::{server, unique_name};

#[tokio::test]
async fn a_new_users_key_identifies_that_user() {
    let server = server();
    let name = unique_name("identity");
    let keys = server.create_user_with_key(&name).await;

    let identity = server
        .sts(&keys)
        .await
        .get_caller_identity()
        .send()
        .await
        .expect("the user's GetCallerIdentity");
    assert_eq!(identity.arn(), Some(server.user_arn(&name).as_str()));
    assert_eq!(identity.account(), Some(server.account_id.as_str()));
    let user_id = identity.user_id().expect("UserId");
    assert!(user_id.starts_with("AIDA"), "UserId {user_id:?}");

    // The same id that IAM reports for the user.
    let user = server
        .admin_iam()
        .await
        .get_user()
        .user_name(&name)
        .send()
        .await
        .expect("GetUser");
    assert_eq!(user.user().map(|u| u.user_id()), Some(user_id));
}

#[tokio::test]
async fn the_administrator_is_user_admin() {
    let server = server();
    let identity = server
        .sts(&server.admin)
        .await
        .get_caller_identity()
        .send()
        .await
        .expect("the administrator's GetCallerIdentity");
    assert_eq!(identity.arn(), Some(server.user_arn("admin").as_str()));
    assert_eq!(identity.account(), Some(server.account_id.as_str()));
    assert!(server.account_id.len() == 12 && server.account_id.bytes().all(|b| b.is_ascii_digit()));
    assert!(identity.user_id().is_some_and(|id| id.starts_with("AIDA")));
}

#[tokio::test]
async fn get_access_key_info_returns_the_keys_account() {
    let server = server();
    let keys = server.create_user_with_key(&unique_name("key-info")).await;
    let info = server
        .sts(&server.admin)
        .await
        .get_access_key_info()
        .access_key_id(&keys.access_key_id)
        .send()
        .await
        .expect("GetAccessKeyInfo");
    assert_eq!(info.account(), Some(server.account_id.as_str()));
}
