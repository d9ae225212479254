//! [`SigningKeyRepository`] over the `signing_keys` table.

use crate::convert::{scope_filter, storage};
use crate::entities::signing_keys;
use crate::Database;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyplane_domain::error::StorageError;
use keyplane_domain::ids::{SigningKeyId, TenantId};
use keyplane_domain::policy::SigningAlgorithm;
use keyplane_domain::scope::Scope;
use keyplane_domain::token::{SigningKey, SigningKeyRepository};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

/// Signing keys in SQL.
#[derive(Clone)]
pub struct SqlSigningKeys {
    db: Database,
}

impl SqlSigningKeys {
    /// Wraps a connection pool.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn from_row(row: signing_keys::Model) -> Result<SigningKey, StorageError> {
    Ok(SigningKey {
        id: SigningKeyId::from_uuid(row.id),
        scope: row.tenant_id.map_or(Scope::Platform, |t| Scope::Tenant(TenantId::from_uuid(t))),
        kid: row.kid,
        algorithm: SigningAlgorithm::parse("algorithm", &row.algorithm)
            .map_err(|_| StorageError::new("corrupt row: signing algorithm"))?,
        public_jwk: row.public_jwk,
        sealed_private: row.sealed_private,
        created_at: row.created_at,
        retired_at: row.retired_at,
        retain_until: row.retain_until,
    })
}

#[async_trait]
impl SigningKeyRepository for SqlSigningKeys {
    async fn insert(&self, key: &SigningKey) -> Result<(), StorageError> {
        let model = signing_keys::ActiveModel {
            id: Set(key.id.as_uuid()),
            tenant_id: Set(key.scope.tenant().map(|t| t.as_uuid())),
            kid: Set(key.kid.clone()),
            algorithm: Set(key.algorithm.as_str().to_owned()),
            public_jwk: Set(key.public_jwk.clone()),
            sealed_private: Set(key.sealed_private.clone()),
            created_at: Set(key.created_at),
            retired_at: Set(key.retired_at),
            retain_until: Set(key.retain_until),
        };
        signing_keys::Entity::insert(model).exec_without_returning(&self.db).await.map_err(storage)?;
        Ok(())
    }

    async fn active(&self, scope: Scope) -> Result<Option<SigningKey>, StorageError> {
        let row = signing_keys::Entity::find()
            .filter(scope_filter(signing_keys::Column::TenantId, scope))
            .filter(signing_keys::Column::RetiredAt.is_null())
            .order_by_desc(signing_keys::Column::CreatedAt)
            .order_by_desc(signing_keys::Column::Id)
            .one(&self.db)
            .await
            .map_err(storage)?;
        row.map(from_row).transpose()
    }

    async fn find_by_kid(&self, kid: &str) -> Result<Option<SigningKey>, StorageError> {
        let row = signing_keys::Entity::find()
            .filter(signing_keys::Column::Kid.eq(kid))
            .one(&self.db)
            .await
            .map_err(storage)?;
        row.map(from_row).transpose()
    }

    async fn published(&self, scope: Scope, now: DateTime<Utc>) -> Result<Vec<SigningKey>, StorageError> {
        let rows = signing_keys::Entity::find()
            .filter(scope_filter(signing_keys::Column::TenantId, scope))
            .filter(
                Condition::any()
                    .add(signing_keys::Column::RetiredAt.is_null())
                    .add(signing_keys::Column::RetainUntil.gt(now)),
            )
            .order_by_desc(signing_keys::Column::CreatedAt)
            .all(&self.db)
            .await
            .map_err(storage)?;
        rows.into_iter().map(from_row).collect()
    }

    async fn retire_others(
        &self,
        scope: Scope,
        keep: SigningKeyId,
        at: DateTime<Utc>,
        retain_until: DateTime<Utc>,
    ) -> Result<u64, StorageError> {
        let result = signing_keys::Entity::update_many()
            .col_expr(signing_keys::Column::RetiredAt, Expr::value(at))
            .col_expr(signing_keys::Column::RetainUntil, Expr::value(retain_until))
            .filter(scope_filter(signing_keys::Column::TenantId, scope))
            .filter(signing_keys::Column::RetiredAt.is_null())
            .filter(signing_keys::Column::Id.ne(keep.as_uuid()))
            .exec(&self.db)
            .await
            .map_err(storage)?;
        Ok(result.rows_affected)
    }
}
