//! [`PlatformKeyRepository`] over the `platform_api_keys` table. A key's creation and
//! revocation commit together with their audit events; a key goes with its owner
//! (`ON DELETE CASCADE`).

use super::audit::{insert_recorded, update_recorded};
use super::page::fetch_page;
use crate::convert::{corrupt, roles_from_json, roles_to_json, storage, WriteFailure};
use crate::entities::platform_api_keys;
use crate::Database;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyplane_domain::api_key::{InsertKeyError, KeyDescription, KeyPublicId, SecretDigest};
use keyplane_domain::audit::AuditEvent;
use keyplane_domain::error::StorageError;
use keyplane_domain::ids::{ApiKeyId, PlatformUserId};
use keyplane_domain::page::{Page, PageRequest};
use keyplane_domain::platform::{PlatformKey, PlatformKeyRepository};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

/// Platform keys in SQL.
#[derive(Clone)]
pub struct SqlPlatformKeys {
    db: Database,
}

impl SqlPlatformKeys {
    /// Wraps a connection pool.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn owned_by(owner: PlatformUserId) -> sea_orm::Select<platform_api_keys::Entity> {
    platform_api_keys::Entity::find().filter(platform_api_keys::Column::OwnerId.eq(owner.as_uuid()))
}

fn from_row(row: platform_api_keys::Model) -> Result<PlatformKey, StorageError> {
    Ok(PlatformKey {
        id: ApiKeyId::from_uuid(row.id),
        owner: PlatformUserId::from_uuid(row.owner_id),
        public_id: KeyPublicId::parse(&row.public_id).ok_or_else(|| corrupt("platform key id"))?,
        digest: SecretDigest::from_bytes(&row.secret_digest).ok_or_else(|| corrupt("platform key digest"))?,
        description: KeyDescription::parse(&row.description).map_err(|_| corrupt("platform key description"))?,
        roles: roles_from_json(row.roles),
        created_at: row.created_at,
        expires_at: row.expires_at,
        last_used_at: row.last_used_at,
        revoked_at: row.revoked_at,
    })
}

#[async_trait]
impl PlatformKeyRepository for SqlPlatformKeys {
    async fn insert(&self, key: &PlatformKey, event: &AuditEvent) -> Result<(), InsertKeyError> {
        let model = platform_api_keys::ActiveModel {
            id: Set(key.id.as_uuid()),
            owner_id: Set(key.owner.as_uuid()),
            public_id: Set(key.public_id.as_str().to_owned()),
            secret_digest: Set(key.digest.as_bytes().to_vec()),
            description: Set(key.description.as_str().to_owned()),
            roles: Set(roles_to_json(&key.roles)),
            created_at: Set(key.created_at),
            expires_at: Set(key.expires_at),
            last_used_at: Set(key.last_used_at),
            revoked_at: Set(key.revoked_at),
        };
        insert_recorded(&self.db, model, event).await.map_err(|e| match e {
            WriteFailure::ForeignKey => InsertKeyError::OwnerGone,
            WriteFailure::Unique => InsertKeyError::Storage(StorageError::new("platform key id collision")),
            WriteFailure::Other(s) => InsertKeyError::Storage(s),
        })
    }

    async fn find_for_authentication(&self, public_id: &KeyPublicId) -> Result<Option<PlatformKey>, StorageError> {
        let row = platform_api_keys::Entity::find()
            .filter(platform_api_keys::Column::PublicId.eq(public_id.as_str()))
            .one(&self.db)
            .await
            .map_err(storage)?;
        row.map(from_row).transpose()
    }

    async fn find_by_id(&self, id: ApiKeyId) -> Result<Option<PlatformKey>, StorageError> {
        let row = platform_api_keys::Entity::find_by_id(id.as_uuid()).one(&self.db).await.map_err(storage)?;
        row.map(from_row).transpose()
    }

    async fn find(&self, owner: PlatformUserId, public_id: &KeyPublicId) -> Result<Option<PlatformKey>, StorageError> {
        let row = owned_by(owner)
            .filter(platform_api_keys::Column::PublicId.eq(public_id.as_str()))
            .one(&self.db)
            .await
            .map_err(storage)?;
        row.map(from_row).transpose()
    }

    async fn list(&self, owner: PlatformUserId, page: PageRequest) -> Result<Page<PlatformKey>, StorageError> {
        let select = owned_by(owner)
            .filter(platform_api_keys::Column::RevokedAt.is_null())
            .order_by_asc(platform_api_keys::Column::CreatedAt)
            .order_by_asc(platform_api_keys::Column::Id);
        fetch_page(&self.db, select, page, from_row).await
    }

    async fn revoke(
        &self,
        owner: PlatformUserId,
        public_id: &KeyPublicId,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StorageError> {
        let revoke = platform_api_keys::Entity::update_many()
            .col_expr(platform_api_keys::Column::RevokedAt, Expr::value(at))
            .filter(platform_api_keys::Column::OwnerId.eq(owner.as_uuid()))
            .filter(platform_api_keys::Column::PublicId.eq(public_id.as_str()))
            .filter(platform_api_keys::Column::RevokedAt.is_null());
        if update_recorded(&self.db, revoke, event).await? {
            return Ok(true);
        }
        Ok(self.find(owner, public_id).await?.is_some())
    }

    async fn touch(&self, key: &PlatformKey, at: DateTime<Utc>) -> Result<(), StorageError> {
        platform_api_keys::Entity::update_many()
            .col_expr(platform_api_keys::Column::LastUsedAt, Expr::value(at))
            .filter(platform_api_keys::Column::Id.eq(key.id.as_uuid()))
            .exec(&self.db)
            .await
            .map_err(storage)?;
        Ok(())
    }
}
