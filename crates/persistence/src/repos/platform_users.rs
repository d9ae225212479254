//! [`PlatformUserRepository`] over the `platform_users` table. Every change that could
//! remove a `platform_admin` first updates the `admins` row of `platform_guards`: that
//! write takes SQLite's single write lock, and on PostgreSQL makes a concurrent change
//! wait until this one commits, after which its reads see it. So "is another enabled
//! admin left?" is always answered against the latest state.

use super::audit::{insert_event, insert_recorded};
use super::page::fetch_page;
use crate::convert::{classify, roles_from_json, roles_to_json, storage, WriteFailure};
use crate::entities::{platform_guards, platform_users};
use crate::Database;
use async_trait::async_trait;
use keyplane_domain::audit::AuditEvent;
use keyplane_domain::error::StorageError;
use keyplane_domain::ids::PlatformUserId;
use keyplane_domain::page::{Page, PageRequest};
use keyplane_domain::password::PasswordHash;
use keyplane_domain::platform::{OperatorChange, OperatorWrite, PlatformUser, PlatformUserRepository};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};

/// The guard row serializing changes that may remove an admin.
const ADMINS_GUARD: &str = "admins";

/// Operator accounts in SQL.
#[derive(Clone)]
pub struct SqlPlatformUsers {
    db: Database,
}

impl SqlPlatformUsers {
    /// Wraps a connection pool.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

/// Takes the admins guard in `txn` (see the module documentation).
async fn take_admins_guard(txn: &DatabaseTransaction) -> Result<(), StorageError> {
    let taken = platform_guards::Entity::update_many()
        .col_expr(platform_guards::Column::Version, Expr::col(platform_guards::Column::Version).add(1))
        .filter(platform_guards::Column::Name.eq(ADMINS_GUARD))
        .exec(txn)
        .await
        .map_err(storage)?;
    if taken.rows_affected != 1 {
        return Err(StorageError::new("the platform_guards row 'admins' is missing"));
    }
    Ok(())
}

/// Under the guard: the account `id` as stored, and whether an enabled admin other than
/// it exists.
async fn guarded_read(
    txn: &DatabaseTransaction,
    id: PlatformUserId,
) -> Result<Option<(PlatformUser, bool)>, StorageError> {
    take_admins_guard(txn).await?;
    let Some(row) = platform_users::Entity::find_by_id(id.as_uuid()).one(txn).await.map_err(storage)? else {
        return Ok(None);
    };
    let others = platform_users::Entity::find()
        .filter(platform_users::Column::Enabled.eq(true))
        .filter(platform_users::Column::Id.ne(id.as_uuid()))
        .all(txn)
        .await
        .map_err(storage)?;
    let another_admin = others.into_iter().map(from_row).any(|u| u.is_active_admin());
    Ok(Some((from_row(row), another_admin)))
}

fn from_row(r: platform_users::Model) -> PlatformUser {
    PlatformUser {
        id: PlatformUserId::from_uuid(r.id),
        user_name: r.user_name,
        password_hash: PasswordHash::from_phc(r.password_hash),
        roles: roles_from_json(r.roles),
        enabled: r.enabled,
        created_at: r.created_at,
    }
}

#[async_trait]
impl PlatformUserRepository for SqlPlatformUsers {
    async fn insert_if_absent(&self, user: &PlatformUser) -> Result<bool, StorageError> {
        match platform_users::Entity::insert(model(user)).exec_without_returning(&self.db).await {
            Ok(_) => Ok(true),
            Err(e) => match classify(e) {
                WriteFailure::Unique => Ok(false),
                WriteFailure::ForeignKey => Err(StorageError::new("unexpected foreign key on platform_users")),
                WriteFailure::Other(s) => Err(s),
            },
        }
    }

    async fn find_by_name(&self, name: &str) -> Result<Option<PlatformUser>, StorageError> {
        let row = platform_users::Entity::find()
            .filter(platform_users::Column::UserNameFolded.eq(name.to_lowercase()))
            .one(&self.db)
            .await
            .map_err(storage)?;
        Ok(row.map(from_row))
    }

    async fn find_by_id(&self, id: PlatformUserId) -> Result<Option<PlatformUser>, StorageError> {
        let row = platform_users::Entity::find_by_id(id.as_uuid()).one(&self.db).await.map_err(storage)?;
        Ok(row.map(from_row))
    }

    async fn set_password(&self, id: PlatformUserId, hash: &PasswordHash) -> Result<bool, StorageError> {
        let changed = platform_users::Entity::update_many()
            .col_expr(platform_users::Column::PasswordHash, sea_orm::sea_query::Expr::value(hash.as_phc().to_owned()))
            .filter(platform_users::Column::Id.eq(id.as_uuid()))
            .exec(&self.db)
            .await
            .map_err(storage)?;
        Ok(changed.rows_affected == 1)
    }

    async fn count(&self) -> Result<u64, StorageError> {
        platform_users::Entity::find().count(&self.db).await.map_err(storage)
    }

    async fn create(&self, user: &PlatformUser, event: &AuditEvent) -> Result<bool, StorageError> {
        match insert_recorded(&self.db, model(user), event).await {
            Ok(()) => Ok(true),
            Err(WriteFailure::Unique) => Ok(false),
            Err(WriteFailure::ForeignKey) => Err(StorageError::new("unexpected foreign key on platform_users")),
            Err(WriteFailure::Other(s)) => Err(s),
        }
    }

    async fn list(&self, page: PageRequest) -> Result<Page<PlatformUser>, StorageError> {
        let select = platform_users::Entity::find()
            .order_by_asc(platform_users::Column::UserNameFolded)
            .order_by_asc(platform_users::Column::Id);
        fetch_page(&self.db, select, page, |r| Ok(from_row(r))).await
    }

    async fn update(
        &self,
        id: PlatformUserId,
        change: &OperatorChange,
        events: &[AuditEvent],
    ) -> Result<OperatorWrite, StorageError> {
        let txn = self.db.begin().await.map_err(storage)?;
        let Some((before, another_admin)) = guarded_read(&txn, id).await? else {
            txn.rollback().await.map_err(storage)?;
            return Ok(OperatorWrite::NotFound);
        };
        let after = change.apply(&before);
        if before.is_active_admin() && !after.is_active_admin() && !another_admin {
            txn.rollback().await.map_err(storage)?;
            return Ok(OperatorWrite::LastAdmin);
        }
        // Only the parts changed: a password set meanwhile without the guard (the admin
        // CLI's reset) is not written back over.
        let mut write = platform_users::Entity::update_many().filter(platform_users::Column::Id.eq(id.as_uuid()));
        if let Some(roles) = &change.roles {
            write = write.col_expr(platform_users::Column::Roles, Expr::value(roles_to_json(roles)));
        }
        if let Some(enabled) = change.enabled {
            write = write.col_expr(platform_users::Column::Enabled, Expr::value(enabled));
        }
        if let Some(hash) = &change.password_hash {
            write = write.col_expr(platform_users::Column::PasswordHash, Expr::value(hash.as_phc().to_owned()));
        }
        write.exec(&txn).await.map_err(storage)?;
        for event in events {
            insert_event(&txn, event).await.map_err(storage)?;
        }
        txn.commit().await.map_err(storage)?;
        Ok(OperatorWrite::Done(after))
    }

    async fn delete(&self, id: PlatformUserId, event: &AuditEvent) -> Result<OperatorWrite, StorageError> {
        let txn = self.db.begin().await.map_err(storage)?;
        let Some((before, another_admin)) = guarded_read(&txn, id).await? else {
            txn.rollback().await.map_err(storage)?;
            return Ok(OperatorWrite::NotFound);
        };
        if before.is_active_admin() && !another_admin {
            txn.rollback().await.map_err(storage)?;
            return Ok(OperatorWrite::LastAdmin);
        }
        platform_users::Entity::delete_by_id(id.as_uuid()).exec(&txn).await.map_err(storage)?;
        insert_event(&txn, event).await.map_err(storage)?;
        txn.commit().await.map_err(storage)?;
        Ok(OperatorWrite::Done(before))
    }
}

fn model(user: &PlatformUser) -> platform_users::ActiveModel {
    platform_users::ActiveModel {
        id: Set(user.id.as_uuid()),
        user_name: Set(user.user_name.clone()),
        user_name_folded: Set(user.user_name.to_lowercase()),
        password_hash: Set(user.password_hash.as_phc().to_owned()),
        roles: Set(roles_to_json(&user.roles)),
        enabled: Set(user.enabled),
        created_at: Set(user.created_at),
    }
}
