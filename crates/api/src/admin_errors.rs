//! The administrative use cases' errors in the native envelope, each converted once:
//! every handler that meets one uses `?`, so the same error reads the same everywhere.

use crate::error::{ApiError, ErrorCode};
use crate::failure::Failure;
use keyplane_domain::error::Invalid;
use keyplane_domain::services::api_keys::KeyError;
use keyplane_domain::services::operators::OperatorError;
use keyplane_domain::services::tenants::TenantAccessError;
use keyplane_domain::services::users::{FindUserError, WriteError};

impl From<Invalid> for ApiError {
    /// `root.invalid_data`, naming the field.
    fn from(e: Invalid) -> Self {
        ApiError::invalid(ErrorCode::InvalidData, &e)
    }
}

/// A validation failure of a user's or an operator's fields: `user.user_name.invalid`
/// and `user.roles.invalid` for those fields, else `root.invalid_data`.
pub fn user_field(e: Invalid) -> ApiError {
    let code = match e.field {
        "user_name" => ErrorCode::UserNameInvalid,
        "roles" => ErrorCode::UserRolesInvalid,
        _ => ErrorCode::InvalidData,
    };
    ApiError::invalid(code, &e)
}

/// `404 tenants.not_found`, as every surface answers a tenant it cannot find.
pub fn tenant_not_found() -> ApiError {
    Failure::TenantNotFound { name: String::new() }.into()
}

impl From<TenantAccessError> for ApiError {
    fn from(e: TenantAccessError) -> Self {
        match e {
            TenantAccessError::NotFound => tenant_not_found(),
            TenantAccessError::Forbidden => ApiError::forbidden(),
            TenantAccessError::Storage(s) => s.into(),
        }
    }
}

/// `404 user.not_found`.
pub fn user_not_found() -> ApiError {
    ApiError::new(ErrorCode::UserNotFound, "The user was not found.")
}

impl From<FindUserError> for ApiError {
    fn from(e: FindUserError) -> Self {
        match e {
            FindUserError::NotFound => user_not_found(),
            FindUserError::Storage(s) => s.into(),
        }
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::NotFound => user_not_found(),
            WriteError::Invalid(i) => user_field(i),
            WriteError::NameTaken => {
                ApiError::new(ErrorCode::UserNameConflict, "A user with this name already exists in the tenant.")
                    .with_fields(["user_name"])
            }
            WriteError::Hash(h) => h.into(),
            WriteError::Storage(s) => s.into(),
        }
    }
}

impl From<KeyError> for ApiError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::NotFound => ApiError::new(ErrorCode::KeyNotFound, "The API key was not found."),
            KeyError::Invalid(i) => i.into(),
            KeyError::Storage(s) => s.into(),
        }
    }
}

impl From<OperatorError> for ApiError {
    fn from(e: OperatorError) -> Self {
        match e {
            OperatorError::NotFound => ApiError::new(ErrorCode::UserNotFound, "The platform user was not found."),
            OperatorError::KeyNotFound => ApiError::new(ErrorCode::KeyNotFound, "The API key was not found."),
            OperatorError::NameTaken => {
                ApiError::new(ErrorCode::UserNameConflict, "A platform user with this name already exists.")
                    .with_fields(["user_name"])
            }
            OperatorError::LastAdmin => ApiError::new(
                ErrorCode::LastPlatformAdmin,
                "The last enabled platform_admin cannot be demoted, disabled or deleted: make another one first.",
            ),
            OperatorError::Invalid(i) => user_field(i),
            OperatorError::Hash(h) => h.into(),
            OperatorError::Storage(s) => s.into(),
        }
    }
}
