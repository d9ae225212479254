//! First start: create the bootstrap platform admin.

use crate::clock::SharedClock;
use crate::error::StorageError;
use crate::ids::PlatformUserId;
use crate::password::{HashError, Password, PasswordHasher};
use crate::platform::{PlatformUser, PlatformUserRepository, BOOTSTRAP_ADMIN};
use crate::role::{Roles, PLATFORM_ADMIN};
use crate::scope::Scope;
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
        None => {
            let mut bytes = [0u8; 18];
            OsRng.fill_bytes(&mut bytes);
            (Password::presented(URL_SAFE_NO_PAD.encode(bytes)), true)
        }
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
