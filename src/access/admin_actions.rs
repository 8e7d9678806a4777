//! twofold's own administration as IAM actions: each admin endpoint's
//! `twofold:<Action>` and the resource it acts on. An endpoint missing here
//! is for `admin: true` users alone (the table fails closed).

/// The `twofold:*` actions of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAction {
    ListUsers,
    CreateUser,
    DisableUser,
    EnableUser,
    ResetMfa,
    GetCredentialReport,
    ReadAudit,
    ManageGroups,
    ManagePolicies,
    ManageAccessKeys,
    ManageRoles,
    ManageClients,
    ManageSessions,
}

impl AdminAction {
    pub fn name(self) -> &'static str {
        match self {
            AdminAction::ListUsers => "twofold:ListUsers",
            AdminAction::CreateUser => "twofold:CreateUser",
            AdminAction::DisableUser => "twofold:DisableUser",
            AdminAction::EnableUser => "twofold:EnableUser",
            AdminAction::ResetMfa => "twofold:ResetMfa",
            AdminAction::GetCredentialReport => "twofold:GetCredentialReport",
            AdminAction::ReadAudit => "twofold:ReadAudit",
            AdminAction::ManageGroups => "twofold:ManageGroups",
            AdminAction::ManagePolicies => "twofold:ManagePolicies",
            AdminAction::ManageAccessKeys => "twofold:ManageAccessKeys",
            AdminAction::ManageRoles => "twofold:ManageRoles",
            AdminAction::ManageClients => "twofold:ManageClients",
            AdminAction::ManageSessions => "twofold:ManageSessions",
        }
    }
}

/// What an endpoint acts on, as a policy's `Resource` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminResource {
    /// No one thing (listing, reports, the audit trail, the simulator): `*`.
    All,
    /// `twofold:user/<name>`, the name from this path parameter.
    User(&'static str),
    /// `twofold:user/<name>`, the name from the request body's `username`
    /// (creating a user): the handler checks once it has read the body.
    UserInBody,
    /// `twofold:group/<name>`.
    Group(&'static str),
    /// `twofold:policy/<name>`.
    Policy(&'static str),
    /// `twofold:role/<name>`.
    Role(&'static str),
}

impl AdminResource {
    /// The resource string, given the path parameter it names.
    pub fn name(self, parameter: impl Fn(&str) -> Option<String>) -> Option<String> {
        let (kind, key) = match self {
            AdminResource::All => return Some("*".into()),
            AdminResource::UserInBody => return None,
            AdminResource::User(key) => ("user", key),
            AdminResource::Group(key) => ("group", key),
            AdminResource::Policy(key) => ("policy", key),
            AdminResource::Role(key) => ("role", key),
        };
        parameter(key).map(|value| resource(kind, &value))
    }
}

/// `twofold:<kind>/<name>`.
pub fn resource(kind: &str, name: &str) -> String {
    format!("twofold:{kind}/{name}")
}

/// One admin endpoint: method, path under `/api/v1/admin` (actix's syntax),
/// action and resource.
#[derive(Debug, Clone, Copy)]
pub struct AdminEndpoint {
    pub method: &'static str,
    pub path: &'static str,
    pub action: AdminAction,
    pub resource: AdminResource,
}

const fn endpoint(
    method: &'static str,
    path: &'static str,
    action: AdminAction,
    resource: AdminResource,
) -> AdminEndpoint {
    AdminEndpoint {
        method,
        path,
        action,
        resource,
    }
}

use AdminAction::*;
use AdminResource::{All, Group, Policy, Role, User, UserInBody};

/// Every admin endpoint of the contract. Attaching a policy is managing
/// that policy (it grants what the policy says), so it needs
/// `ManagePolicies` on it, wherever it is attached.
pub const ADMIN_ENDPOINTS: &[AdminEndpoint] = &[
    endpoint("GET", "/users", ListUsers, All),
    endpoint("POST", "/users", CreateUser, UserInBody),
    endpoint(
        "POST",
        "/users/{username}/disable",
        DisableUser,
        User("username"),
    ),
    endpoint(
        "POST",
        "/users/{username}/enable",
        EnableUser,
        User("username"),
    ),
    endpoint(
        "DELETE",
        "/users/{username}/devices",
        ResetMfa,
        User("username"),
    ),
    endpoint(
        "GET",
        "/users/{username}/sessions",
        ManageSessions,
        User("username"),
    ),
    endpoint(
        "DELETE",
        "/users/{username}/sessions",
        ManageSessions,
        User("username"),
    ),
    endpoint(
        "DELETE",
        "/users/{username}/sessions/{id}",
        ManageSessions,
        User("username"),
    ),
    endpoint("GET", "/credential-report", GetCredentialReport, All),
    endpoint("GET", "/audit", ReadAudit, All),
    endpoint("GET", "/groups", ManageGroups, All),
    endpoint("PUT", "/groups/{name}", ManageGroups, Group("name")),
    endpoint("DELETE", "/groups/{name}", ManageGroups, Group("name")),
    endpoint(
        "PUT",
        "/groups/{name}/members/{username}",
        ManageGroups,
        Group("name"),
    ),
    endpoint(
        "DELETE",
        "/groups/{name}/members/{username}",
        ManageGroups,
        Group("name"),
    ),
    endpoint("GET", "/policies", ManagePolicies, All),
    endpoint("PUT", "/policies/{name}", ManagePolicies, Policy("name")),
    endpoint("DELETE", "/policies/{name}", ManagePolicies, Policy("name")),
    endpoint(
        "PUT",
        "/groups/{name}/policies/{policy}",
        ManagePolicies,
        Policy("policy"),
    ),
    endpoint(
        "DELETE",
        "/groups/{name}/policies/{policy}",
        ManagePolicies,
        Policy("policy"),
    ),
    endpoint(
        "PUT",
        "/users/{username}/policies/{policy}",
        ManagePolicies,
        Policy("policy"),
    ),
    endpoint(
        "DELETE",
        "/users/{username}/policies/{policy}",
        ManagePolicies,
        Policy("policy"),
    ),
    endpoint("POST", "/simulate", ManagePolicies, All),
    endpoint(
        "GET",
        "/users/{username}/access-keys",
        ManageAccessKeys,
        User("username"),
    ),
    endpoint(
        "POST",
        "/users/{username}/access-keys",
        ManageAccessKeys,
        User("username"),
    ),
    endpoint(
        "PATCH",
        "/users/{username}/access-keys/{id}",
        ManageAccessKeys,
        User("username"),
    ),
    endpoint(
        "DELETE",
        "/users/{username}/access-keys/{id}",
        ManageAccessKeys,
        User("username"),
    ),
    endpoint("GET", "/roles", ManageRoles, All),
    endpoint("PUT", "/roles/{name}", ManageRoles, Role("name")),
    endpoint("DELETE", "/roles/{name}", ManageRoles, Role("name")),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_names_its_action_and_resource() {
        let find = |method: &str, path: &str| {
            ADMIN_ENDPOINTS
                .iter()
                .find(|e| e.method == method && e.path == path)
                .unwrap_or_else(|| panic!("{method} {path}"))
        };
        let reset = find("DELETE", "/users/{username}/devices");
        assert_eq!(reset.action.name(), "twofold:ResetMfa");
        let params = |key: &str| (key == "username").then(|| "alice".to_owned());
        assert_eq!(
            reset.resource.name(params).as_deref(),
            Some("twofold:user/alice")
        );
        assert_eq!(
            find("GET", "/users").resource.name(params).as_deref(),
            Some("*")
        );
        assert_eq!(find("POST", "/users").resource.name(params), None);
        let attach = find("PUT", "/groups/{name}/policies/{policy}");
        let attach_params = |key: &str| Some(format!("<{key}>"));
        assert_eq!(
            attach.resource.name(attach_params).as_deref(),
            Some("twofold:policy/<policy>")
        );
        for endpoint in ADMIN_ENDPOINTS {
            assert!(endpoint.action.name().starts_with("twofold:"));
            let named = endpoint.resource.name(|key| Some(key.to_owned()));
            assert!(
                endpoint.resource == UserInBody || named.is_some(),
                "{}",
                endpoint.path
            );
        }
    }
}
