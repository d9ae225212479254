//! The stable action names. They are part of the API contract: never renamed once
//! released. Refreshing a token is deliberately not an event (far too many).

/// A sign-in succeeded (any entry point).
pub const USER_SIGN_IN_SUCCEEDED: &str = "user.sign_in.succeeded";
/// A sign-in failed (wrong password, unknown name, locked, wrong key secret, …).
pub const USER_SIGN_IN_FAILED: &str = "user.sign_in.failed";
/// Repeated failures locked a user out.
pub const USER_LOCKED: &str = "user.locked";
/// An administrator unlocked a user.
pub const USER_UNLOCKED: &str = "user.unlocked";
/// A rotated refresh token was presented again; the session was revoked.
pub const SESSION_REUSE_DETECTED: &str = "session.reuse_detected";
/// A session was ended by an administrator or by its own user.
pub const SESSION_REVOKED: &str = "session.revoked";
/// A user was created.
pub const USER_CREATED: &str = "user.created";
/// A user's profile (name, email, full name, roles, metadata) changed.
pub const USER_UPDATED: &str = "user.updated";
/// A user was disabled.
pub const USER_DISABLED: &str = "user.disabled";
/// A disabled user was enabled again.
pub const USER_ENABLED: &str = "user.enabled";
/// A user was deleted.
pub const USER_DELETED: &str = "user.deleted";
/// A user's password was set.
pub const USER_PASSWORD_CHANGED: &str = "user.password_changed";
/// An API key was created.
pub const API_KEY_CREATED: &str = "api_key.created";
/// An API key was revoked.
pub const API_KEY_REVOKED: &str = "api_key.revoked";
/// A tenant was created.
pub const TENANT_CREATED: &str = "tenant.created";
/// A tenant was renamed.
pub const TENANT_UPDATED: &str = "tenant.updated";
/// A tenant was suspended.
pub const TENANT_SUSPENDED: &str = "tenant.suspended";
/// A suspended tenant was resumed.
pub const TENANT_RESUMED: &str = "tenant.resumed";
/// A tenant was deleted.
pub const TENANT_DELETED: &str = "tenant.deleted";
/// A tenant's token policy was replaced.
pub const TOKEN_POLICY_UPDATED: &str = "token_policy.updated";
/// A tenant's brute-force policy was replaced.
pub const BRUTE_FORCE_POLICY_UPDATED: &str = "brute_force_policy.updated";
/// A signing key was rotated.
pub const SIGNING_KEY_ROTATED: &str = "signing_key.rotated";
/// A signing key was withdrawn at once (its tokens stop verifying).
pub const SIGNING_KEY_WITHDRAWN: &str = "signing_key.withdrawn";
/// A tenant's authentication cluster was configured or removed.
pub const AUTHENTICATION_CLUSTER_UPDATED: &str = "authentication_cluster.updated";

/// Every action above.
pub const ALL: &[&str] = &[
    USER_SIGN_IN_SUCCEEDED,
    USER_SIGN_IN_FAILED,
    USER_LOCKED,
    USER_UNLOCKED,
    SESSION_REUSE_DETECTED,
    SESSION_REVOKED,
    USER_CREATED,
    USER_UPDATED,
    USER_DISABLED,
    USER_ENABLED,
    USER_DELETED,
    USER_PASSWORD_CHANGED,
    API_KEY_CREATED,
    API_KEY_REVOKED,
    TENANT_CREATED,
    TENANT_UPDATED,
    TENANT_SUSPENDED,
    TENANT_RESUMED,
    TENANT_DELETED,
    TOKEN_POLICY_UPDATED,
    BRUTE_FORCE_POLICY_UPDATED,
    SIGNING_KEY_ROTATED,
    SIGNING_KEY_WITHDRAWN,
    AUTHENTICATION_CLUSTER_UPDATED,
];
