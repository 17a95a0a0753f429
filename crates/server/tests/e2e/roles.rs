//! Roles: AssumeRole through the SDK, what the session's credentials identify as and may
//! do, and how deleting the role ends the session.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;

use crate::harness::{
    DEFAULT_REGION, Server, assert_denied, assert_fails, failure, server, unique_name,
};

const IAM_READ_ONLY_ACCESS: &str = "arn:aws:iam::aws:policy/IAMReadOnlyAccess";
const INVALID_TOKEN: &str = "The security token included in the request is invalid.";

/// Temporary credentials as AssumeRole returned them.
struct Session {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
}

impl Session {
    async fn config(&self, server: &Server) -> aws_config::SdkConfig {
        server
            .sdk_config(&server.admin, DEFAULT_REGION)
            .await
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                &self.access_key_id,
                &self.secret_access_key,
                Some(self.session_token.clone()),
                None,
                "assumed-role",
            )))
            .build()
    }

    async fn iam(&self, server: &Server) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.config(server).await)
    }

    async fn sts(&self, server: &Server) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::new(&self.config(server).await)
    }
}

/// A trust policy letting `principal` (an ARN) assume the role.
fn trust_policy(principal: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":"sts:AssumeRole"}}]}}"#
    )
}

/// Creates the role `name` trusting `principal`, with `policy` attached; returns its id and
/// ARN.
async fn create_role(
    iam: &aws_sdk_iam::Client,
    name: &str,
    principal: &str,
    policy: Option<&str>,
) -> (String, String) {
    let output = iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust_policy(principal))
        .send()
        .await
        .expect("CreateRole");
    let role = output.role().expect("CreateRole returns Role");
    assert_eq!(role.role_name(), name);
    assert!(
        role.role_id().starts_with("AROA") && role.role_id().len() == 21,
        "role id {:?}",
        role.role_id()
    );
    if let Some(policy) = policy {
        iam.attach_role_policy()
            .role_name(name)
            .policy_arn(policy)
            .send()
            .await
            .expect("AttachRolePolicy");
    }
    (role.role_id().to_owned(), role.arn().to_owned())
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

#[tokio::test]
async fn assume_role_session_identifies_as_the_role_and_ends_with_it() {
    let server = server();
    let admin = server.admin_iam().await;
    let user = unique_name("assumer");
    let keys = server.create_user_with_key(&user).await;
    let role_name = unique_name("reader-role");
    // The trust policy names the user itself, so no identity policy is needed (same account).
    let (role_id, role_arn) = create_role(
        &admin,
        &role_name,
        &server.user_arn(&user),
        Some(IAM_READ_ONLY_ACCESS),
    )
    .await;
    assert_eq!(
        role_arn,
        format!("arn:aws:iam::{}:role/{role_name}", server.account_id)
    );

    let output = server
        .sts(&keys)
        .await
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("sdk-session")
        .send()
        .await
        .expect("AssumeRole");
    let credentials = output
        .credentials()
        .expect("AssumeRole returns Credentials");
    assert!(
        credentials.access_key_id().starts_with("ASIA") && credentials.access_key_id().len() == 20,
        "temporary access key id {:?}",
        credentials.access_key_id()
    );
    assert_eq!(credentials.secret_access_key().len(), 40);
    assert!(!credentials.session_token().is_empty());
    let left = credentials.expiration().secs() - now_secs();
    assert!(
        (3480..=3605).contains(&left),
        "expires in {left} s, not one hour"
    );
    let assumed_arn = format!(
        "arn:aws:sts::{}:assumed-role/{role_name}/sdk-session",
        server.account_id
    );
    let assumed = output.assumed_role_user().expect("AssumedRoleUser");
    assert_eq!(assumed.arn(), assumed_arn);
    assert_eq!(assumed.assumed_role_id(), format!("{role_id}:sdk-session"));

    let session = Session {
        access_key_id: credentials.access_key_id().to_owned(),
        secret_access_key: credentials.secret_access_key().to_owned(),
        session_token: credentials.session_token().to_owned(),
    };
    let session_sts = session.sts(server).await;
    let identity = session_sts
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity with the session");
    assert_eq!(identity.arn(), Some(assumed_arn.as_str()));
    assert_eq!(identity.account(), Some(server.account_id.as_str()));
    assert_eq!(
        identity.user_id(),
        Some(format!("{role_id}:sdk-session").as_str())
    );

    // The role's IAMReadOnlyAccess governs the session: reads pass, writes are denied.
    let session_iam = session.iam(server).await;
    let listed = session_iam
        .list_users()
        .send()
        .await
        .expect("ListUsers with the session");
    assert!(listed.users().iter().any(|u| u.user_name() == user));
    let new_user = unique_name("not-created");
    assert_denied(
        session_iam.create_user().user_name(&new_user).send().await,
        &assumed_arn,
        "iam:CreateUser",
        &server.user_arn(&new_user),
    );
    assert_denied(
        session_iam.delete_role().role_name(&role_name).send().await,
        &assumed_arn,
        "iam:DeleteRole",
        &role_arn,
    );

    // Deleting the role ends its sessions at once.
    admin
        .detach_role_policy()
        .role_name(&role_name)
        .policy_arn(IAM_READ_ONLY_ACCESS)
        .send()
        .await
        .expect("DetachRolePolicy");
    admin
        .delete_role()
        .role_name(&role_name)
        .send()
        .await
        .expect("DeleteRole");
    let gone = failure(session_sts.get_caller_identity().send().await);
    assert_eq!(
        (gone.code.as_str(), gone.status, gone.message.as_str()),
        ("InvalidClientTokenId", 403, INVALID_TOKEN)
    );
    assert_fails(
        session_iam.list_users().send().await,
        "InvalidClientTokenId",
        403,
    );
}

#[tokio::test]
async fn a_role_trusting_someone_else_cannot_be_assumed() {
    let server = server();
    let admin = server.admin_iam().await;
    let trusted = unique_name("trusted");
    admin
        .create_user()
        .user_name(&trusted)
        .send()
        .await
        .expect("CreateUser");
    let (_, role_arn) = create_role(
        &admin,
        &unique_name("not-yours"),
        &server.user_arn(&trusted),
        None,
    )
    .await;
    // Not even the administrator: the trust policy must allow the caller.
    let denied = failure(
        server
            .sts(&server.admin)
            .await
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name("nope")
            .send()
            .await,
    );
    assert_eq!((denied.code.as_str(), denied.status), ("AccessDenied", 403));
    assert!(
        denied.message.starts_with(&format!(
            "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            server.user_arn("admin")
        )),
        "{}",
        denied.message
    );
}

#[tokio::test]
async fn duration_beyond_the_roles_maximum_is_a_validation_error() {
    let server = server();
    let admin = server.admin_iam().await;
    let user = unique_name("long-session");
    let keys = server.create_user_with_key(&user).await;
    let (_, role_arn) = create_role(
        &admin,
        &unique_name("one-hour"),
        &server.user_arn(&user),
        None,
    )
    .await;
    let sts = server.sts(&keys).await;
    let too_long = failure(
        sts.assume_role()
            .role_arn(&role_arn)
            .role_session_name("long")
            .duration_seconds(3601)
            .send()
            .await,
    );
    assert_eq!(
        (
            too_long.code.as_str(),
            too_long.status,
            too_long.message.as_str()
        ),
        (
            "ValidationError",
            400,
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
        )
    );
    let output = sts
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("short")
        .duration_seconds(900)
        .send()
        .await
        .expect("AssumeRole for 15 minutes");
    let left = output
        .credentials()
        .expect("Credentials")
        .expiration()
        .secs()
        - now_secs();
    assert!((780..=905).contains(&left), "expires in {left} s, not 900");
}
