//! [`ApiKeyRepository`] over the `api_keys` table. A key's creation and revocation commit
//! together with their audit events.

use super::audit::{insert_recorded, update_recorded};
use super::page::fetch_page;
use crate::convert::{key_from_row, roles_to_json, storage, WriteFailure};
use crate::entities::api_keys;
use crate::Database;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyplane_domain::api_key::{ApiKey, ApiKeyRepository, InsertKeyError, KeyOwner, KeyPublicId};
use keyplane_domain::audit::AuditEvent;
use keyplane_domain::error::StorageError;
use keyplane_domain::ids::{ApiKeyId, TenantId};
use keyplane_domain::page::{Page, PageRequest};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

/// API keys in SQL.
#[derive(Clone)]
pub struct SqlApiKeys {
    db: Database,
}

impl SqlApiKeys {
    /// Wraps a connection pool.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn scoped(tenant: TenantId) -> sea_orm::Select<api_keys::Entity> {
    api_keys::Entity::find().filter(api_keys::Column::TenantId.eq(tenant.as_uuid()))
}

#[async_trait]
impl ApiKeyRepository for SqlApiKeys {
    async fn insert(&self, key: &ApiKey, event: &AuditEvent) -> Result<(), InsertKeyError> {
        let model = api_keys::ActiveModel {
            id: Set(key.id.as_uuid()),
            tenant_id: Set(key.tenant_id.as_uuid()),
            public_id: Set(key.public_id.as_str().to_owned()),
            secret_digest: Set(key.digest.as_bytes().to_vec()),
            description: Set(key.description.as_str().to_owned()),
            owner_user_id: Set(match key.owner {
                KeyOwner::Application => None,
                KeyOwner::User(u) => Some(u.as_uuid()),
            }),
            roles: Set(roles_to_json(&key.roles)),
            created_at: Set(key.created_at),
            expires_at: Set(key.expires_at),
            last_used_at: Set(key.last_used_at),
            revoked_at: Set(key.revoked_at),
        };
        insert_recorded(&self.db, model, event).await.map_err(|e| match e {
            WriteFailure::ForeignKey => InsertKeyError::OwnerGone,
            WriteFailure::Unique => InsertKeyError::Storage(StorageError::new("API key id collision")),
            WriteFailure::Other(s) => InsertKeyError::Storage(s),
        })
    }

    async fn find_for_authentication(&self, public_id: &KeyPublicId) -> Result<Option<ApiKey>, StorageError> {
        let row = api_keys::Entity::find()
            .filter(api_keys::Column::PublicId.eq(public_id.as_str()))
            .one(&self.db)
            .await
            .map_err(storage)?;
        row.map(key_from_row).transpose()
    }

    async fn find(&self, tenant: TenantId, public_id: &KeyPublicId) -> Result<Option<ApiKey>, StorageError> {
        let row = scoped(tenant)
            .filter(api_keys::Column::PublicId.eq(public_id.as_str()))
            .one(&self.db)
            .await
            .map_err(storage)?;
        row.map(key_from_row).transpose()
    }

    async fn find_by_id(&self, tenant: TenantId, id: ApiKeyId) -> Result<Option<ApiKey>, StorageError> {
        let row = scoped(tenant).filter(api_keys::Column::Id.eq(id.as_uuid())).one(&self.db).await.map_err(storage)?;
        row.map(key_from_row).transpose()
    }

    async fn list(
        &self,
        tenant: TenantId,
        owner: Option<KeyOwner>,
        unrevoked_only: bool,
        page: PageRequest,
    ) -> Result<Page<ApiKey>, StorageError> {
        let mut select = scoped(tenant);
        if unrevoked_only {
            select = select.filter(api_keys::Column::RevokedAt.is_null());
        }
        match owner {
            None => {}
            Some(KeyOwner::Application) => select = select.filter(api_keys::Column::OwnerUserId.is_null()),
            Some(KeyOwner::User(u)) => select = select.filter(api_keys::Column::OwnerUserId.eq(u.as_uuid())),
        }
        let select = select.order_by_asc(api_keys::Column::CreatedAt).order_by_asc(api_keys::Column::Id);
        fetch_page(&self.db, select, page, key_from_row).await
    }

    async fn revoke(
        &self,
        tenant: TenantId,
        public_id: &KeyPublicId,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StorageError> {
        let revoke = api_keys::Entity::update_many()
            .col_expr(api_keys::Column::RevokedAt, Expr::value(at))
            .filter(api_keys::Column::TenantId.eq(tenant.as_uuid()))
            .filter(api_keys::Column::PublicId.eq(public_id.as_str()))
            .filter(api_keys::Column::RevokedAt.is_null());
        if update_recorded(&self.db, revoke, event).await? {
            return Ok(true);
        }
        Ok(self.find(tenant, public_id).await?.is_some())
    }

    async fn touch(&self, key: &ApiKey, at: DateTime<Utc>) -> Result<(), StorageError> {
        api_keys::Entity::update_many()
            .col_expr(api_keys::Column::LastUsedAt, Expr::value(at))
            .filter(api_keys::Column::TenantId.eq(key.tenant_id.as_uuid()))
            .filter(api_keys::Column::Id.eq(key.id.as_uuid()))
            .exec(&self.db)
            .await
            .map_err(storage)?;
        Ok(())
    }
}
