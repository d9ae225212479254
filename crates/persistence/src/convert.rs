//! Conversions between rows and domain types, and between driver and domain errors.

use crate::entities::{api_keys, tenants, users};
use keyplane_domain::api_key::{ApiKey, KeyDescription, KeyOwner, KeyPublicId, SecretDigest};
use keyplane_domain::error::StorageError;
use keyplane_domain::ids::{ApiKeyId, TenantId, UserId};
use keyplane_domain::password::PasswordHash;
use keyplane_domain::policy::{ClusterKind, SigningAlgorithm, TokenPolicy};
use keyplane_domain::role::Roles;
use keyplane_domain::tenant::{Tenant, TenantName, TenantSlug, TenantStatus};
use keyplane_domain::user::{Email, FullName, Metadata, User, UserName};
use sea_orm::{DbErr, SqlErr};
use serde_json::Value;

/// What a failed write means to a repository.
pub(crate) enum WriteFailure {
    Unique,
    ForeignKey,
    Other(StorageError),
}

pub(crate) fn classify(err: DbErr) -> WriteFailure {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => WriteFailure::Unique,
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => WriteFailure::ForeignKey,
        _ => WriteFailure::Other(storage(err)),
    }
}

pub(crate) fn storage(err: DbErr) -> StorageError {
    StorageError::new(err)
}

pub(crate) fn corrupt(what: &str) -> StorageError {
    StorageError::new(format!("corrupt row: {what}"))
}

pub(crate) fn roles_to_json(roles: &Roles) -> Value {
    Value::from(roles.to_strings())
}

pub(crate) fn roles_from_json(value: Value) -> Roles {
    let raw = match value {
        Value::Array(items) => items.into_iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    };
    Roles::from_stored(raw)
}

pub(crate) fn tenant_from_row(row: tenants::Model) -> Result<Tenant, StorageError> {
    Ok(Tenant {
        id: TenantId::from_uuid(row.id),
        slug: TenantSlug::parse(&row.slug).map_err(|_| corrupt("tenant slug"))?,
        name: TenantName::parse(&row.name).map_err(|_| corrupt("tenant name"))?,
        status: TenantStatus::from_stored(&row.status),
        policy: TokenPolicy::from_seconds(
            row.access_token_ttl_secs,
            row.session_ttl_secs,
            row.refresh_reuse_grace_secs,
            SigningAlgorithm::parse("signing_algorithm", &row.signing_algorithm).map_err(|_| corrupt("algorithm"))?,
        )
        .and_then(|p| p.with_grants(row.access_token_renewal, row.access_token_renewal_max_secs, row.password_grant))
        .and_then(|p| p.with_personal_keys(row.personal_key_lifetime_secs))
        .map_err(|_| corrupt("token policy"))?,
        cluster: row
            .authentication_cluster
            .as_deref()
            .map(ClusterKind::parse)
            .transpose()
            .map_err(|_| corrupt("cluster"))?,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub(crate) fn user_from_row(row: users::Model) -> Result<User, StorageError> {
    Ok(User {
        id: UserId::from_uuid(row.id),
        tenant_id: TenantId::from_uuid(row.tenant_id),
        user_name: UserName::parse(&row.user_name).map_err(|_| corrupt("user name"))?,
        email: row.email.as_deref().map(Email::parse).transpose().map_err(|_| corrupt("email"))?,
        full_name: row.full_name.as_deref().map(FullName::parse).transpose().map_err(|_| corrupt("full name"))?,
        roles: roles_from_json(row.roles),
        enabled: row.enabled,
        metadata: Metadata::from_stored(row.metadata),
        password_hash: PasswordHash::from_phc(row.password_hash),
        created_at: row.created_at,
        updated_at: row.updated_at,
        last_login_at: row.last_login_at,
    })
}

pub(crate) fn key_from_row(row: api_keys::Model) -> Result<ApiKey, StorageError> {
    Ok(ApiKey {
        id: ApiKeyId::from_uuid(row.id),
        tenant_id: TenantId::from_uuid(row.tenant_id),
        public_id: KeyPublicId::parse(&row.public_id).ok_or_else(|| corrupt("key id"))?,
        digest: SecretDigest::from_bytes(&row.secret_digest).ok_or_else(|| corrupt("key digest"))?,
        description: KeyDescription::parse(&row.description).map_err(|_| corrupt("key description"))?,
        owner: row.owner_user_id.map_or(KeyOwner::Application, |u| KeyOwner::User(UserId::from_uuid(u))),
        roles: roles_from_json(row.roles),
        created_at: row.created_at,
        expires_at: row.expires_at,
        last_used_at: row.last_used_at,
        revoked_at: row.revoked_at,
    })
}

/// `tenant_id = :tenant`, or `tenant_id IS NULL` for the platform scope.
pub(crate) fn scope_filter<C: sea_orm::ColumnTrait>(
    column: C,
    scope: keyplane_domain::scope::Scope,
) -> sea_orm::sea_query::SimpleExpr {
    match scope.tenant() {
        Some(t) => column.eq(t.as_uuid()),
        None => column.is_null(),
    }
}
