//! First start: create the bootstrap platform admin; and the break-glass reset of an
//! operator's password.

use crate::audit::{action, AuditLog, Initiator};
use crate::clock::SharedClock;
use crate::error::StorageError;
use crate::ids::PlatformUserId;
use crate::lockout::{LockoutRepository, LockoutSubject};
use crate::password::{HashError, Password, PasswordHasher};
use crate::platform::{PlatformKeyRepository, PlatformUser, PlatformUserRepository, BOOTSTRAP_ADMIN};
use crate::role::{Roles, PLATFORM_ADMIN};
use crate::scope::Scope;
use crate::services::operators::revoke_operator_keys;
use crate::services::sessions::reasons::PASSWORD_RESET;
use crate::session::{SessionRepository, SessionSubject};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use std::sync::Arc;

/// What bootstrapping did.
#[derive(Debug)]
pub enum BootstrapOutcome {
    /// Operators already existed; nothing changed.
    AlreadyDone,
    /// Created `admin` with the configured password.
    CreatedWithConfiguredPassword,
    /// Created `admin` with this generated password, to be shown once.
    CreatedWithGeneratedPassword(Password),
}

/// Failure of bootstrapping.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The configured password is unacceptable.
    #[error("the bootstrap admin password must be 8 to 1024 characters long")]
    WeakPassword,
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// Backend failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What a password reset did.
#[derive(Debug)]
pub struct PasswordReset {
    /// The operator.
    pub user: PlatformUser,
    /// The generated password, to be shown once (`None` when one was given).
    pub generated: Option<Password>,
    /// Sessions ended.
    pub sessions_ended: u64,
    /// API keys revoked.
    pub keys_revoked: u64,
}

/// Failure of a password reset.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// No operator has that name.
    #[error("no platform operator is named '{0}'")]
    NoSuchOperator(String),
    /// The given password is unacceptable.
    #[error("the password must be 8 to 1024 characters long")]
    WeakPassword,
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// Backend failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The ports a password reset writes to.
pub struct ResetPorts<'a> {
    /// Operator accounts.
    pub operators: &'a Arc<dyn PlatformUserRepository>,
    /// Their sessions, ended by the reset.
    pub sessions: &'a Arc<dyn SessionRepository>,
    /// Their API keys, revoked by the reset.
    pub platform_keys: &'a Arc<dyn PlatformKeyRepository>,
    /// Their failure records, cleared by the reset.
    pub lockout: &'a Arc<dyn LockoutRepository>,
    /// Hashing.
    pub hasher: &'a Arc<dyn PasswordHasher>,
    /// The audit trail.
    pub audit: &'a Arc<dyn AuditLog>,
    /// Time.
    pub clock: &'a SharedClock,
}

/// Break-glass (the admin CLI): sets operator `name`'s password to `new`, or to a
/// generated one returned once; ends the operator's sessions, revokes their API keys and clears their lockout,
/// recording `user.password_changed` and `user.unlocked` as done by `by`.
///
/// # Errors
/// See [`ResetError`].
pub async fn reset_operator_password(
    ports: ResetPorts<'_>,
    name: &str,
    new: Option<String>,
    by: &Initiator,
) -> Result<PasswordReset, ResetError> {
    let user = ports.operators.find_by_name(name).await?.ok_or_else(|| ResetError::NoSuchOperator(name.to_owned()))?;
    let (password, generated) = match new {
        Some(p) => (Password::parse_new(p).map_err(|_| ResetError::WeakPassword)?, false),
        None => (generate(), true),
    };
    let hash = ports.hasher.hash(Scope::Platform, &password).await?;
    if !ports.operators.set_password(user.id, &hash).await? {
        return Err(ResetError::NoSuchOperator(name.to_owned()));
    }
    let now = ports.clock.now();
    let subject = SessionSubject::PlatformUser(user.id);
    let sessions_ended = ports.sessions.revoke_subject(Scope::Platform, subject, PASSWORD_RESET, now).await?;
    let keys_revoked = revoke_operator_keys(ports.platform_keys.as_ref(), &user, PASSWORD_RESET, by, now).await?;
    let unlocked = by.event(None, action::USER_UNLOCKED, now).with("user_name", user.user_name.as_str());
    ports.lockout.unlock(Scope::Platform, &LockoutSubject::user_name(&user.user_name), &unlocked).await?;
    let changed = by
        .event(None, action::USER_PASSWORD_CHANGED, now)
        .with("user_name", user.user_name.as_str())
        .with("sessions_ended", sessions_ended)
        .with("keys_revoked", keys_revoked);
    ports.audit.record(&changed).await?;
    Ok(PasswordReset { user, generated: generated.then_some(password), sessions_ended, keys_revoked })
}

fn generate() -> Password {
    let mut bytes = [0u8; 18];
    OsRng.fill_bytes(&mut bytes);
    Password::presented(URL_SAFE_NO_PAD.encode(bytes))
}

/// Creates `admin` (role `platform_admin`) when no operator exists yet.
///
/// # Errors
/// `WeakPassword`, `Hash` or `Storage`.
pub async fn ensure_platform_admin(
    repo: &Arc<dyn PlatformUserRepository>,
    hasher: &Arc<dyn PasswordHasher>,
    clock: &SharedClock,
    configured: Option<String>,
) -> Result<BootstrapOutcome, BootstrapError> {
    if repo.count().await? > 0 {
        return Ok(BootstrapOutcome::AlreadyDone);
    }
    let (password, generated) = match configured {
        Some(p) => (Password::parse_new(p).map_err(|_| BootstrapError::WeakPassword)?, false),
        None => (generate(), true),
    };
    let user = PlatformUser {
        id: PlatformUserId::generate(),
        user_name: BOOTSTRAP_ADMIN.to_owned(),
        password_hash: hasher.hash(Scope::Platform, &password).await?,
        roles: Roles::single(PLATFORM_ADMIN),
        enabled: true,
        created_at: clock.now(),
    };
    if !repo.insert_if_absent(&user).await? {
        return Ok(BootstrapOutcome::AlreadyDone);
    }
    Ok(if generated {
        BootstrapOutcome::CreatedWithGeneratedPassword(password)
    } else {
        BootstrapOutcome::CreatedWithConfiguredPassword
    })
}
