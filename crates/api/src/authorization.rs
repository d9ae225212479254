//! What a verified caller may do beyond its roles: a key mints no credentials, nobody
//! grants a role they lack, and a session creates credentials only soon after its
//! sign-in or with the password given again. The rules are the domain's
//! ([`Principal`]); this module answers their refusals in the native envelope.

use crate::authentication::credential_error;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use keyplane_domain::origin::RequestContext;
use keyplane_domain::password::Password;
use keyplane_domain::principal::Principal;
use keyplane_domain::services::tokens::{Credentials, Realm, SignInError};
use keyplane_domain::tenant::TenantRef;

/// Refuses, with `root.unauthorized.rbac`, a request authenticated by an API key that asks
/// to `what` (create a key or an operator, change an operator's password or roles): a
/// leaked key must not mint credentials that outlive its revocation.
///
/// # Errors
/// `root.unauthorized.rbac`.
pub fn in_person(principal: &Principal, what: &str) -> Result<(), ApiError> {
    if principal.may_mint_credentials() {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::Forbidden,
        format!("An API key cannot {what}: authenticate with a password or a session."),
    ))
}

/// Refuses, with `root.unauthorized.rbac`, granting one of Keyplane's roles the caller
/// does not hold itself (see [`Principal::may_grant`]).
///
/// # Errors
/// `root.unauthorized.rbac`.
pub fn may_grant(principal: &Principal, roles: &keyplane_domain::role::Roles) -> Result<(), ApiError> {
    if principal.may_grant(roles) {
        return Ok(());
    }
    Err(ApiError::new(ErrorCode::Forbidden, "A credential cannot grant a role it does not hold itself."))
}

/// Requires the caller to have proved who they are recently (see
/// [`Principal::recently_authenticated`]), or to give their `current_password` now, which
/// is checked like a sign-in (counted towards lockout): what a stolen session must not
/// do alone, such as minting a key.
///
/// # Errors
/// `authc.reauthentication_required` (401) without either, or for a wrong password;
/// `root.rate_limited` (busy hashing pool); internal errors.
pub async fn reauthenticated(
    state: &AppState,
    principal: &Principal,
    current_password: Option<String>,
    origin: &RequestContext,
) -> Result<(), ApiError> {
    if principal.recently_authenticated(state.keys.now()) {
        return Ok(());
    }
    let refused = || {
        ApiError::new(
            ErrorCode::ReauthenticationRequired,
            "Sign in again, or send your current_password: this needs a sign-in within the last 5 minutes.",
        )
    };
    let password = current_password.filter(|p| !p.is_empty()).ok_or_else(refused)?;
    let tenant = match principal.tenant {
        Some(id) => Some(state.tenants.find(&TenantRef::Id(id)).await?.ok_or_else(refused)?),
        None => None,
    };
    let realm = tenant.as_ref().map_or(Realm::Platform, Realm::Tenant);
    let credentials =
        Credentials::Password { user_name: principal.name.clone(), password: Password::presented(password) };
    match state.tokens.check(realm, &credentials, origin).await {
        Ok(verified) if verified.principal().subject == principal.subject => Ok(()),
        Ok(_) | Err(SignInError::InvalidCredentials) => Err(refused()),
        Err(other) => Err(credential_error(other)),
    }
}
