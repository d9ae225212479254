//! [`SigningKeyRepository`] over the `signing_keys` table. A unique partial index allows
//! one non-retired key per scope (migration `m20261124_000007`); a scope's first key is
//! an `INSERT … ON CONFLICT DO NOTHING` followed by a read of the winner, and a rotation
//! retires the old key before inserting the new one, in one transaction with its audit
//! event.

use crate::convert::{classify, scope_filter, storage, WriteFailure};
use crate::entities::signing_keys;
use crate::Database;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyplane_domain::audit::AuditEvent;
use keyplane_domain::error::StorageError;
use keyplane_domain::ids::{SigningKeyId, TenantId};
use keyplane_domain::policy::SigningAlgorithm;
use keyplane_domain::scope::Scope;
use keyplane_domain::token::{SigningKey, SigningKeyRepository, Withdrawal};
use sea_orm::sea_query::{Condition, Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};

/// How many times a rotation that lost a race with another rotation of its scope is
/// retried (over the winner's key).
const ROTATE_ATTEMPTS: u32 = 3;

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

/// The row of a new key.
pub(crate) fn new_row(key: &SigningKey) -> signing_keys::ActiveModel {
    signing_keys::ActiveModel {
        id: Set(key.id.as_uuid()),
        tenant_id: Set(key.scope.tenant().map(|t| t.as_uuid())),
        kid: Set(key.kid.clone()),
        algorithm: Set(key.algorithm.as_str().to_owned()),
        public_jwk: Set(key.public_jwk.clone()),
        sealed_private: Set(key.sealed_private.clone()),
        created_at: Set(key.created_at),
        retired_at: Set(key.retired_at),
        retain_until: Set(key.retain_until),
    }
}

/// Retires the active key of `key`'s scope and inserts `key`, in one transaction.
async fn rotate_once(
    db: &crate::Database,
    key: &SigningKey,
    retain_until: DateTime<Utc>,
    event: &AuditEvent,
) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    signing_keys::Entity::update_many()
        .col_expr(signing_keys::Column::RetiredAt, Expr::value(key.created_at))
        .col_expr(signing_keys::Column::RetainUntil, Expr::value(retain_until))
        .filter(scope_filter(signing_keys::Column::TenantId, key.scope))
        .filter(signing_keys::Column::RetiredAt.is_null())
        .exec(&txn)
        .await?;
    signing_keys::Entity::insert(new_row(key)).exec_without_returning(&txn).await?;
    super::audit::insert_event(&txn, event).await?;
    txn.commit().await
}

/// One try at [`SigningKeyRepository::withdraw`]: the key is retired now if it was the
/// active one (and `replacement` inserted), or its retention ends now if it was retired
/// and still verifying; each `UPDATE` states the condition it acts on, so a concurrent
/// rotation takes one path or the other, never both.
async fn withdraw_once(
    db: &crate::Database,
    scope: Scope,
    kid: &str,
    replacement: &SigningKey,
    now: DateTime<Utc>,
    event: &AuditEvent,
) -> Result<Withdrawal, DbErr> {
    let txn = db.begin().await?;
    let this = || {
        Condition::all().add(scope_filter(signing_keys::Column::TenantId, scope)).add(signing_keys::Column::Kid.eq(kid))
    };
    let active = signing_keys::Entity::update_many()
        .col_expr(signing_keys::Column::RetiredAt, Expr::value(now))
        .col_expr(signing_keys::Column::RetainUntil, Expr::value(now))
        .filter(this())
        .filter(signing_keys::Column::RetiredAt.is_null())
        .exec(&txn)
        .await?;
    let done = if active.rows_affected > 0 {
        signing_keys::Entity::insert(new_row(replacement)).exec_without_returning(&txn).await?;
        super::audit::insert_event(&txn, &event.clone().with("replacement_kid", replacement.kid.as_str())).await?;
        Withdrawal::Replaced
    } else {
        let retired = signing_keys::Entity::update_many()
            .col_expr(signing_keys::Column::RetainUntil, Expr::value(now))
            .filter(this())
            .filter(signing_keys::Column::RetiredAt.is_not_null())
            .filter(signing_keys::Column::RetainUntil.gt(now))
            .exec(&txn)
            .await?;
        if retired.rows_affected == 0 {
            txn.rollback().await?;
            return Ok(Withdrawal::NotFound);
        }
        super::audit::insert_event(&txn, event).await?;
        Withdrawal::Withdrawn
    };
    txn.commit().await?;
    Ok(done)
}

/// Inserts `key` unless that would break a unique index (above all the one active key
/// per scope); returns whether it was inserted.
async fn insert_unless_conflicting(db: &impl ConnectionTrait, key: &SigningKey) -> Result<bool, DbErr> {
    let inserted = signing_keys::Entity::insert(new_row(key))
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    Ok(inserted == 1)
}

#[async_trait]
impl SigningKeyRepository for SqlSigningKeys {
    async fn insert_if_absent(&self, key: &SigningKey) -> Result<SigningKey, StorageError> {
        if insert_unless_conflicting(&self.db, key).await.map_err(storage)? {
            return Ok(key.clone());
        }
        self.active(key.scope).await?.ok_or_else(|| StorageError::new("the scope's active key vanished"))
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

    async fn newest(&self) -> Result<Option<SigningKey>, StorageError> {
        let row = signing_keys::Entity::find()
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

    async fn withdraw(
        &self,
        scope: Scope,
        kid: &str,
        replacement: &SigningKey,
        now: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<Withdrawal, StorageError> {
        match withdraw_once(&self.db, scope, kid, replacement, now, event).await.map_err(classify) {
            Ok(done) => Ok(done),
            // A rotation made another key active meanwhile: withdraw this one as retired.
            Err(WriteFailure::Unique) => {
                withdraw_once(&self.db, scope, kid, replacement, now, event).await.map_err(storage)
            }
            Err(WriteFailure::ForeignKey) => Err(StorageError::new("the key's tenant is gone")),
            Err(WriteFailure::Other(e)) => Err(e),
        }
    }

    async fn rotate(
        &self,
        key: &SigningKey,
        retain_until: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<(), StorageError> {
        let mut attempt = 1;
        loop {
            match rotate_once(&self.db, key, retain_until, event).await.map_err(classify) {
                Ok(()) => return Ok(()),
                // Another rotation inserted its key after this one retired the old key.
                Err(WriteFailure::Unique) if attempt < ROTATE_ATTEMPTS => attempt += 1,
                Err(WriteFailure::Unique) => return Err(StorageError::new("rotation kept losing to others")),
                Err(WriteFailure::ForeignKey) => return Err(StorageError::new("the key's tenant is gone")),
                Err(WriteFailure::Other(e)) => return Err(e),
            }
        }
    }
}
