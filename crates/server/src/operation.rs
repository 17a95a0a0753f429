//! Every operation latchkey serves, and the one table that says which IAM action each needs.

/// The query-protocol services, told apart by the `Version` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Iam,
    Sts,
    /// awsJson1_1, `X-Amz-Target: AWSOrganizationsV20161128.<Operation>`.
    Organizations,
    /// awsJson1_1, `X-Amz-Target: AWSIdentityStore.<Operation>`.
    IdentityStore,
    /// awsJson1_1, `X-Amz-Target: SWBExternalService.<Operation>`, signed for `sso`.
    SsoAdmin,
    /// awsJson1_1, `X-Amz-Target: com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.<Operation>`.
    CloudTrail,
}

impl Service {
    pub const IAM_VERSION: &'static str = "2010-05-08";
    pub const STS_VERSION: &'static str = "2011-06-15";

    pub fn from_version(version: &str) -> Option<Self> {
        match version {
            Self::IAM_VERSION => Some(Service::Iam),
            Self::STS_VERSION => Some(Service::Sts),
            _ => None,
        }
    }

    /// The SigV4 signing name, which is also the credential scope's service.
    pub fn from_signing_name(name: &str) -> Option<Self> {
        match name {
            "iam" => Some(Service::Iam),
            "sts" => Some(Service::Sts),
            "organizations" => Some(Service::Organizations),
            "identitystore" => Some(Service::IdentityStore),
            "sso" => Some(Service::SsoAdmin),
            "cloudtrail" => Some(Service::CloudTrail),
            _ => None,
        }
    }

    /// The `X-Amz-Target` prefix of an awsJson service.
    pub fn target_prefix(self) -> Option<&'static str> {
        match self {
            Service::Organizations => Some("AWSOrganizationsV20161128"),
            Service::IdentityStore => Some("AWSIdentityStore"),
            Service::SsoAdmin => Some("SWBExternalService"),
            Service::CloudTrail => Some("com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101"),
            Service::Iam | Service::Sts => None,
        }
    }

    pub fn signing_name(self) -> &'static str {
        match self {
            Service::Iam => "iam",
            Service::Sts => "sts",
            Service::Organizations => "organizations",
            Service::IdentityStore => "identitystore",
            Service::SsoAdmin => "sso",
            Service::CloudTrail => "cloudtrail",
        }
    }

    /// The `eventSource` of its calls in the audit trail.
    pub fn event_source(self) -> &'static str {
        match self {
            Service::Iam => "iam.amazonaws.com",
            Service::Sts => "sts.amazonaws.com",
            Service::Organizations => "organizations.amazonaws.com",
            Service::IdentityStore => "identitystore.amazonaws.com",
            Service::SsoAdmin => "sso.amazonaws.com",
            Service::CloudTrail => "cloudtrail.amazonaws.com",
        }
    }

    pub fn xmlns(self) -> &'static str {
        match self {
            Service::Iam
            | Service::Organizations
            | Service::IdentityStore
            | Service::SsoAdmin
            | Service::CloudTrail => latchkey_query::IAM_XMLNS,
            Service::Sts => latchkey_query::STS_XMLNS,
        }
    }
}

/// What an operation's action applies to, for building the resource ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    /// The user named by `UserName`, or the caller when it is omitted.
    User,
    /// The owner of the access key named by `AccessKeyId`.
    AccessKeyOwner,
    /// Users under `PathPrefix` (listing).
    UserPath,
    /// The group named by `GroupName`.
    Group,
    /// Groups under `PathPrefix` (listing).
    GroupPath,
    /// The managed policy named by `PolicyArn`.
    Policy,
    /// The role named by `RoleName`.
    Role,
    /// The user, group or role named by `PolicySourceArn`.
    PolicySource,
    /// Roles under `PathPrefix` (listing).
    RolePath,
    /// The MFA device named by `SerialNumber`.
    MfaDevice,
    /// The virtual MFA device named by `Path` and `VirtualMFADeviceName`, being created.
    NewMfaDevice,
    /// The identity store, and the users, groups and memberships the input names, as the
    /// Service Authorization Reference lists them for the action (`api::identitystore`).
    IdentityStore,
    /// The instance, permission sets and accounts the input names, as the Service
    /// Authorization Reference lists them for the action (`api::ssoadmin`).
    SsoAdmin,
    /// Not scoped to a resource (`*`).
    Any,
}

/// The IAM action prefix of a service (its signing name), as a literal for `concat!`.
macro_rules! action_prefix {
    (Iam) => {
        "iam"
    };
    (Sts) => {
        "sts"
    };
    (Organizations) => {
        "organizations"
    };
    (IdentityStore) => {
        "identitystore"
    };
    (SsoAdmin) => {
        "sso"
    };
    (CloudTrail) => {
        "cloudtrail"
    };
}

/// The operation's name on the wire: the variant's, unless the line gives one (`as Name`)
/// because two services share it (IAM's and Identity Store's `CreateUser`).
macro_rules! wire_name {
    ($name:ident) => {
        stringify!($name)
    };
    ($name:ident, $wire:ident) => {
        stringify!($wire)
    };
}

macro_rules! operations {
    ($($service:ident $name:ident $(as $wire:ident)? => $resource:ident, $mutates:literal;)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Operation { $($name),* }

        impl Operation {
            pub const ALL: &'static [Operation] = &[$(Operation::$name),*];

            pub fn name(self) -> &'static str {
                match self { $(Operation::$name => wire_name!($name $(, $wire)?)),* }
            }

            /// The IAM action a policy must allow, e.g. `iam:CreateUser`.
            pub fn action(self) -> &'static str {
                match self { $(Operation::$name => concat!(action_prefix!($service), ":", wire_name!($name $(, $wire)?))),* }
            }

            pub fn service(self) -> Service {
                match self { $(Operation::$name => Service::$service),* }
            }

            pub fn resource_kind(self) -> ResourceKind {
                match self { $(Operation::$name => ResourceKind::$resource),* }
            }

            /// Whether the operation writes; writes run off the async workers because a
            /// commit waits for the disk.
            pub fn mutates(self) -> bool {
                match self { $(Operation::$name => $mutates),* }
            }
        }
    };
}

operations! {
    Iam CreateUser => User, true;
    Iam GetUser => User, false;
    Iam ListUsers => UserPath, false;
    Iam UpdateUser => User, true;
    Iam DeleteUser => User, true;
    Iam TagUser => User, true;
    Iam UntagUser => User, true;
    Iam ListUserTags => User, false;
    Iam CreateLoginProfile => User, true;
    Iam GetLoginProfile => User, false;
    Iam UpdateLoginProfile => User, true;
    Iam DeleteLoginProfile => User, true;
    Iam ChangePassword => User, true;
    Iam CreateAccountAlias => Any, true;
    Iam DeleteAccountAlias => Any, true;
    Iam ListAccountAliases => Any, false;
    Iam GetAccountPasswordPolicy => Any, false;
    Iam UpdateAccountPasswordPolicy => Any, true;
    Iam DeleteAccountPasswordPolicy => Any, true;
    Iam CreateAccessKey => User, true;
    Iam ListAccessKeys => User, false;
    Iam UpdateAccessKey => User, true;
    Iam DeleteAccessKey => User, true;
    Iam GetAccessKeyLastUsed => AccessKeyOwner, false;
    Iam CreateGroup => Group, true;
    Iam GetGroup => Group, false;
    Iam ListGroups => GroupPath, false;
    Iam UpdateGroup => Group, true;
    Iam DeleteGroup => Group, true;
    Iam AddUserToGroup => Group, true;
    Iam RemoveUserFromGroup => Group, true;
    Iam ListGroupsForUser => User, false;
    Iam CreatePolicy => Policy, true;
    Iam GetPolicy => Policy, false;
    Iam ListPolicies => Any, false;
    Iam DeletePolicy => Policy, true;
    Iam CreatePolicyVersion => Policy, true;
    Iam GetPolicyVersion => Policy, false;
    Iam ListPolicyVersions => Policy, false;
    Iam DeletePolicyVersion => Policy, true;
    Iam SetDefaultPolicyVersion => Policy, true;
    Iam TagPolicy => Policy, true;
    Iam UntagPolicy => Policy, true;
    Iam ListPolicyTags => Policy, false;
    Iam AttachUserPolicy => User, true;
    Iam DetachUserPolicy => User, true;
    Iam ListAttachedUserPolicies => User, false;
    Iam AttachGroupPolicy => Group, true;
    Iam DetachGroupPolicy => Group, true;
    Iam ListAttachedGroupPolicies => Group, false;
    Iam ListEntitiesForPolicy => Policy, false;
    Iam PutUserPolicy => User, true;
    Iam GetUserPolicy => User, false;
    Iam ListUserPolicies => User, false;
    Iam DeleteUserPolicy => User, true;
    Iam PutGroupPolicy => Group, true;
    Iam GetGroupPolicy => Group, false;
    Iam ListGroupPolicies => Group, false;
    Iam DeleteGroupPolicy => Group, true;
    Iam PutUserPermissionsBoundary => User, true;
    Iam DeleteUserPermissionsBoundary => User, true;
    Iam CreateRole => Role, true;
    Iam GetRole => Role, false;
    Iam ListRoles => RolePath, false;
    Iam UpdateRole => Role, true;
    Iam UpdateRoleDescription => Role, true;
    Iam UpdateAssumeRolePolicy => Role, true;
    Iam DeleteRole => Role, true;
    Iam TagRole => Role, true;
    Iam UntagRole => Role, true;
    Iam ListRoleTags => Role, false;
    Iam AttachRolePolicy => Role, true;
    Iam DetachRolePolicy => Role, true;
    Iam ListAttachedRolePolicies => Role, false;
    Iam PutRolePolicy => Role, true;
    Iam GetRolePolicy => Role, false;
    Iam ListRolePolicies => Role, false;
    Iam DeleteRolePolicy => Role, true;
    Iam PutRolePermissionsBoundary => Role, true;
    Iam DeleteRolePermissionsBoundary => Role, true;
    Iam CreateVirtualMFADevice => NewMfaDevice, true;
    Iam EnableMFADevice => User, true;
    Iam ResyncMFADevice => User, true;
    Iam DeactivateMFADevice => User, true;
    Iam DeleteVirtualMFADevice => MfaDevice, true;
    Iam ListMFADevices => User, false;
    Iam ListVirtualMFADevices => Any, false;
    Iam GetMFADevice => User, false;
    Iam GetAccountAuthorizationDetails => Any, false;
    Iam SimulatePrincipalPolicy => PolicySource, false;
    Iam SimulateCustomPolicy => Any, false;
    Iam GetContextKeysForPrincipalPolicy => PolicySource, false;
    Iam GetContextKeysForCustomPolicy => Any, false;
    Iam GetAccountSummary => Any, false;
    Iam GenerateCredentialReport => Any, true;
    Iam GetCredentialReport => Any, false;
    Sts GetCallerIdentity => Any, false;
    Sts GetAccessKeyInfo => Any, false;
    Sts AssumeRole => Any, false;
    Sts GetSessionToken => Any, false;
    Sts GetFederationToken => Any, false;
    Sts DecodeAuthorizationMessage => Any, false;
    Organizations DescribeOrganization => Any, false;
    Organizations CreateAccount => Any, true;
    Organizations DescribeCreateAccountStatus => Any, false;
    Organizations ListAccounts => Any, false;
    Organizations DescribeAccount => Any, false;
    Organizations ListRoots => Any, false;
    Organizations CreateOrganizationalUnit => Any, true;
    Organizations DescribeOrganizationalUnit => Any, false;
    Organizations UpdateOrganizationalUnit => Any, true;
    Organizations DeleteOrganizationalUnit => Any, true;
    Organizations ListOrganizationalUnitsForParent => Any, false;
    Organizations ListAccountsForParent => Any, false;
    Organizations ListChildren => Any, false;
    Organizations ListParents => Any, false;
    Organizations MoveAccount => Any, true;
    CloudTrail LookupEvents => Any, false;
    IdentityStore DescribeIdentityStore => IdentityStore, false;
    IdentityStore ListIdentityStores => Any, false;
    IdentityStore IdentityStoreCreateUser as CreateUser => IdentityStore, true;
    IdentityStore DescribeUser => IdentityStore, false;
    IdentityStore IdentityStoreListUsers as ListUsers => IdentityStore, false;
    IdentityStore IdentityStoreUpdateUser as UpdateUser => IdentityStore, true;
    IdentityStore IdentityStoreDeleteUser as DeleteUser => IdentityStore, true;
    IdentityStore GetUserId => IdentityStore, false;
    IdentityStore IdentityStoreCreateGroup as CreateGroup => IdentityStore, true;
    IdentityStore DescribeGroup => IdentityStore, false;
    IdentityStore IdentityStoreListGroups as ListGroups => IdentityStore, false;
    IdentityStore IdentityStoreUpdateGroup as UpdateGroup => IdentityStore, true;
    IdentityStore IdentityStoreDeleteGroup as DeleteGroup => IdentityStore, true;
    IdentityStore GetGroupId => IdentityStore, false;
    IdentityStore CreateGroupMembership => IdentityStore, true;
    IdentityStore DescribeGroupMembership => IdentityStore, false;
    IdentityStore DeleteGroupMembership => IdentityStore, true;
    IdentityStore GetGroupMembershipId => IdentityStore, false;
    IdentityStore ListGroupMemberships => IdentityStore, false;
    IdentityStore ListGroupMembershipsForMember => IdentityStore, false;
    IdentityStore IsMemberInGroups => IdentityStore, false;
    SsoAdmin ListInstances => SsoAdmin, false;
    SsoAdmin DescribeInstance => SsoAdmin, false;
    SsoAdmin CreatePermissionSet => SsoAdmin, true;
    SsoAdmin DescribePermissionSet => SsoAdmin, false;
    SsoAdmin ListPermissionSets => SsoAdmin, false;
    SsoAdmin UpdatePermissionSet => SsoAdmin, true;
    SsoAdmin DeletePermissionSet => SsoAdmin, true;
    SsoAdmin AttachManagedPolicyToPermissionSet => SsoAdmin, true;
    SsoAdmin DetachManagedPolicyFromPermissionSet => SsoAdmin, true;
    SsoAdmin ListManagedPoliciesInPermissionSet => SsoAdmin, false;
    SsoAdmin AttachCustomerManagedPolicyReferenceToPermissionSet => SsoAdmin, true;
    SsoAdmin DetachCustomerManagedPolicyReferenceFromPermissionSet => SsoAdmin, true;
    SsoAdmin ListCustomerManagedPolicyReferencesInPermissionSet => SsoAdmin, false;
    SsoAdmin PutInlinePolicyToPermissionSet => SsoAdmin, true;
    SsoAdmin GetInlinePolicyForPermissionSet => SsoAdmin, false;
    SsoAdmin DeleteInlinePolicyFromPermissionSet => SsoAdmin, true;
    SsoAdmin PutPermissionsBoundaryToPermissionSet => SsoAdmin, true;
    SsoAdmin GetPermissionsBoundaryForPermissionSet => SsoAdmin, false;
    SsoAdmin DeletePermissionsBoundaryFromPermissionSet => SsoAdmin, true;
    SsoAdmin TagResource => SsoAdmin, true;
    SsoAdmin UntagResource => SsoAdmin, true;
    SsoAdmin ListTagsForResource => SsoAdmin, false;
    SsoAdmin CreateAccountAssignment => SsoAdmin, true;
    SsoAdmin DeleteAccountAssignment => SsoAdmin, true;
    SsoAdmin DescribeAccountAssignmentCreationStatus => SsoAdmin, false;
    SsoAdmin DescribeAccountAssignmentDeletionStatus => SsoAdmin, false;
    SsoAdmin ListAccountAssignmentCreationStatus => SsoAdmin, false;
    SsoAdmin ListAccountAssignmentDeletionStatus => SsoAdmin, false;
    SsoAdmin ListAccountAssignments => SsoAdmin, false;
    SsoAdmin ListAccountAssignmentsForPrincipal => SsoAdmin, false;
    SsoAdmin ListAccountsForProvisionedPermissionSet => SsoAdmin, false;
    SsoAdmin ListPermissionSetsProvisionedToAccount => SsoAdmin, false;
    SsoAdmin ProvisionPermissionSet => SsoAdmin, true;
    SsoAdmin DescribePermissionSetProvisioningStatus => SsoAdmin, false;
    SsoAdmin ListPermissionSetProvisioningStatus => SsoAdmin, false;
}

impl Operation {
    pub fn find(service: Service, action: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|op| op.service() == service && op.name() == action)
    }

    /// The operation an `X-Amz-Target` header names (`AWSOrganizationsV20161128.ListAccounts`).
    pub fn from_target(target: &str) -> Option<Self> {
        let (prefix, action) = target.rsplit_once('.')?;
        Self::ALL
            .iter()
            .copied()
            .find(|op| op.service().target_prefix() == Some(prefix) && op.name() == action)
    }

    /// The tagging action a create that carries tags needs as well, as AWS documents
    /// (CreateUser with `Tags` needs `iam:TagUser` on the new user, ...).
    pub fn tags_on_create(self) -> Option<Operation> {
        match self {
            Operation::CreateUser => Some(Operation::TagUser),
            Operation::CreateRole => Some(Operation::TagRole),
            Operation::CreatePolicy => Some(Operation::TagPolicy),
            _ => None,
        }
    }

    /// Not decided here: GetCallerIdentity and GetSessionToken need no permission on AWS,
    /// AssumeRole is decided together with the role's trust policy by the operation itself,
    /// and GetFederationToken against the federated user it names.
    pub fn always_allowed(self) -> bool {
        matches!(
            self,
            Operation::GetCallerIdentity
                | Operation::GetSessionToken
                | Operation::AssumeRole
                | Operation::GetFederationToken
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_found_by_its_name_and_service() {
        for op in Operation::ALL {
            assert_eq!(Operation::find(op.service(), op.name()), Some(*op));
        }
        assert_eq!(Operation::find(Service::Sts, "CreateUser"), None);
        assert_eq!(Operation::GetUser.action(), "iam:GetUser");
        for op in Operation::ALL {
            assert_eq!(
                op.action(),
                format!("{}:{}", op.service().signing_name(), op.name())
            );
        }
        assert_eq!(
            Operation::GetCallerIdentity.action(),
            "sts:GetCallerIdentity"
        );
        assert_eq!(
            Operation::find(Service::IdentityStore, "CreateUser"),
            Some(Operation::IdentityStoreCreateUser)
        );
        assert_eq!(
            Operation::IdentityStoreCreateUser.action(),
            "identitystore:CreateUser"
        );
        assert_eq!(
            Operation::from_target("AWSIdentityStore.ListUsers"),
            Some(Operation::IdentityStoreListUsers)
        );
        assert_eq!(
            Operation::find(Service::Iam, "CreateUser"),
            Some(Operation::CreateUser)
        );
        assert_eq!(
            Operation::from_target("SWBExternalService.CreatePermissionSet"),
            Some(Operation::CreatePermissionSet)
        );
        assert_eq!(
            Operation::CreateAccountAssignment.action(),
            "sso:CreateAccountAssignment"
        );
        assert_eq!(Service::from_signing_name("sso"), Some(Service::SsoAdmin));
        assert_eq!(
            Operation::from_target(
                "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"
            ),
            Some(Operation::LookupEvents)
        );
        assert_eq!(Operation::LookupEvents.action(), "cloudtrail:LookupEvents");
    }
}
