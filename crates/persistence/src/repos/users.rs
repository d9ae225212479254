//! [`UserRepository`] over the `users` table; every query filters on the tenant id. Each
//! administrative write and its audit event commit in one transaction.

use super::audit::{commit_if_changed, insert_event, update_recorded};
use super::page::fetch_page;
use crate::convert::{classify, roles_to_json, storage, user_from_row, WriteFailure};
use crate::entities::users;
use crate::Database;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyplane_domain::audit::AuditEvent;
use keyplane_domain::error::StorageError;
use keyplane_domain::ids::{TenantId, UserId};
use keyplane_domain::page::{Page, PageRequest};
use keyplane_domain::password::PasswordHash;
use keyplane_domain::user::{User, UserName, UserRepository, WriteUserError};
use sea_orm::sea_query::Expr;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait};

/// Tenant users in SQL.
#[derive(Clone)]
pub struct SqlUsers {
    db: Database,
}

impl SqlUsers {
    /// Wraps a connection pool.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn active(u: &User) -> users::ActiveModel {
    users::ActiveModel {
        id: Set(u.id.as_uuid()),
        tenant_id: Set(u.tenant_id.as_uuid()),
        user_name: Set(u.user_name.as_str().to_owned()),
        user_name_folded: Set(u.user_name.folded()),
        email: Set(u.email.as_ref().map(|e| e.as_str().to_owned())),
        full_name: Set(u.full_name.as_ref().map(|n| n.as_str().to_owned())),
        roles: Set(roles_to_json(&u.roles)),
        enabled: Set(u.enabled),
        metadata: Set(u.metadata.to_value()),
        password_hash: Set(u.password_hash.as_phc().to_owned()),
        created_at: Set(u.created_at),
        updated_at: Set(u.updated_at),
        last_login_at: Set(u.last_login_at),
    }
}

fn write_error(e: sea_orm::DbErr) -> WriteUserError {
    match classify(e) {
        WriteFailure::Unique => WriteUserError::NameTaken,
        WriteFailure::ForeignKey => WriteUserError::Storage(StorageError::new("the user's tenant no longer exists")),
        WriteFailure::Other(s) => WriteUserError::Storage(s),
    }
}

fn scoped(tenant: TenantId) -> sea_orm::Select<users::Entity> {
    users::Entity::find().filter(users::Column::TenantId.eq(tenant.as_uuid()))
}

#[async_trait]
impl UserRepository for SqlUsers {
    async fn insert(&self, user: &User, event: &AuditEvent) -> Result<(), WriteUserError> {
        let txn = self.db.begin().await.map_err(storage)?;
        users::Entity::insert(active(user)).exec_without_returning(&txn).await.map_err(write_error)?;
        insert_event(&txn, event).await.map_err(storage)?;
        txn.commit().await.map_err(storage)?;
        Ok(())
    }

    async fn find_by_name(&self, tenant: TenantId, name: &UserName) -> Result<Option<User>, StorageError> {
        let row = scoped(tenant)
            .filter(users::Column::UserNameFolded.eq(name.folded()))
            .one(&self.db)
            .await
            .map_err(storage)?;
        row.map(user_from_row).transpose()
    }

    async fn find_by_id(&self, tenant: TenantId, id: UserId) -> Result<Option<User>, StorageError> {
        let row = scoped(tenant).filter(users::Column::Id.eq(id.as_uuid())).one(&self.db).await.map_err(storage)?;
        row.map(user_from_row).transpose()
    }

    async fn list(&self, tenant: TenantId, page: PageRequest) -> Result<Page<User>, StorageError> {
        let select = scoped(tenant).order_by_asc(users::Column::UserNameFolded);
        fetch_page(&self.db, select, page, user_from_row).await
    }

    async fn update(&self, user: &User, event: &AuditEvent) -> Result<bool, WriteUserError> {
        // The profile only: `enabled` and the password hash have their own writes, and
        // the id, tenant and times of creation and last sign-in never change here.
        let mut model = active(user);
        model.id = NotSet;
        model.tenant_id = NotSet;
        model.created_at = NotSet;
        model.enabled = NotSet;
        model.password_hash = NotSet;
        model.last_login_at = NotSet;
        let txn = self.db.begin().await.map_err(storage)?;
        let result = users::Entity::update_many()
            .set(model)
            .filter(users::Column::TenantId.eq(user.tenant_id.as_uuid()))
            .filter(users::Column::Id.eq(user.id.as_uuid()))
            .exec(&txn)
            .await
            .map_err(write_error)?;
        if result.rows_affected != 1 {
            return Ok(false);
        }
        insert_event(&txn, event).await.map_err(storage)?;
        txn.commit().await.map_err(storage)?;
        Ok(true)
    }

    async fn set_enabled(
        &self,
        tenant: TenantId,
        id: UserId,
        enabled: bool,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StorageError> {
        let write = users::Entity::update_many()
            .col_expr(users::Column::Enabled, Expr::value(enabled))
            .col_expr(users::Column::UpdatedAt, Expr::value(at))
            .filter(users::Column::TenantId.eq(tenant.as_uuid()))
            .filter(users::Column::Id.eq(id.as_uuid()));
        update_recorded(&self.db, write, event).await
    }

    async fn set_password(
        &self,
        tenant: TenantId,
        id: UserId,
        hash: &PasswordHash,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StorageError> {
        let write = users::Entity::update_many()
            .col_expr(users::Column::PasswordHash, Expr::value(hash.as_phc()))
            .col_expr(users::Column::UpdatedAt, Expr::value(at))
            .filter(users::Column::TenantId.eq(tenant.as_uuid()))
            .filter(users::Column::Id.eq(id.as_uuid()));
        update_recorded(&self.db, write, event).await
    }

    async fn record_login(&self, tenant: TenantId, id: UserId, at: DateTime<Utc>) -> Result<(), StorageError> {
        users::Entity::update_many()
            .col_expr(users::Column::LastLoginAt, Expr::value(at))
            .filter(users::Column::TenantId.eq(tenant.as_uuid()))
            .filter(users::Column::Id.eq(id.as_uuid()))
            .exec(&self.db)
            .await
            .map_err(storage)?;
        Ok(())
    }

    async fn delete(&self, tenant: TenantId, id: UserId, event: &AuditEvent) -> Result<bool, StorageError> {
        let txn = self.db.begin().await.map_err(storage)?;
        let result = users::Entity::delete_many()
            .filter(users::Column::TenantId.eq(tenant.as_uuid()))
            .filter(users::Column::Id.eq(id.as_uuid()))
            .exec(&txn)
            .await
            .map_err(storage)?;
        commit_if_changed(txn, result.rows_affected == 1, event).await
    }
}
