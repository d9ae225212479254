//! [`TenantRepository`] over the `tenants` table. A new tenant's row and its first
//! signing key are written in one transaction; every administrative write commits with
//! its audit event.

use super::audit::{commit_if_changed, insert_event, update_recorded};
use super::page::fetch_page;
use super::signing_keys::new_row;
use crate::convert::{classify, storage, tenant_from_row, WriteFailure};
use crate::entities::{signing_keys, tenants};
use crate::Database;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyplane_domain::audit::AuditEvent;
use keyplane_domain::error::StorageError;
use keyplane_domain::ids::TenantId;
use keyplane_domain::page::{Page, PageRequest};
use keyplane_domain::tenant::{InsertTenantError, Tenant, TenantRef, TenantRepository, TenantStatus};
use keyplane_domain::token::SigningKey;
use sea_orm::sea_query::Expr;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait};

/// Tenants in SQL.
#[derive(Clone)]
pub struct SqlTenants {
    db: Database,
}

impl SqlTenants {
    /// Wraps a connection pool.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn active(t: &Tenant) -> tenants::ActiveModel {
    tenants::ActiveModel {
        id: Set(t.id.as_uuid()),
        slug: Set(t.slug.as_str().to_owned()),
        name: Set(t.name.as_str().to_owned()),
        status: Set(t.status.as_str().to_owned()),
        authentication_cluster: Set(t.cluster.map(|c| c.as_str().to_owned())),
        access_token_ttl_secs: Set(t.policy.access_token_ttl.num_seconds()),
        session_ttl_secs: Set(t.policy.session_ttl.num_seconds()),
        refresh_reuse_grace_secs: Set(t.policy.refresh_reuse_grace.num_seconds()),
        signing_algorithm: Set(t.policy.signing_algorithm.as_str().to_owned()),
        access_token_renewal: Set(t.policy.access_token_renewal),
        access_token_renewal_max_secs: Set(t.policy.access_token_renewal_max.num_seconds()),
        password_grant: Set(t.policy.password_grant),
        personal_key_lifetime_secs: Set(t.policy.personal_key_lifetime.num_seconds()),
        created_at: Set(t.created_at),
        updated_at: Set(t.updated_at),
    }
}

#[async_trait]
impl TenantRepository for SqlTenants {
    async fn insert(
        &self,
        tenant: &Tenant,
        first_key: &SigningKey,
        event: &AuditEvent,
    ) -> Result<(), InsertTenantError> {
        let txn = self.db.begin().await.map_err(storage)?;
        if let Err(e) = tenants::Entity::insert(active(tenant)).exec_without_returning(&txn).await {
            return Err(match classify(e) {
                WriteFailure::Unique => InsertTenantError::SlugTaken,
                WriteFailure::ForeignKey => {
                    InsertTenantError::Storage(StorageError::new("unexpected foreign key on tenants"))
                }
                WriteFailure::Other(s) => InsertTenantError::Storage(s),
            });
        }
        signing_keys::Entity::insert(new_row(first_key)).exec_without_returning(&txn).await.map_err(storage)?;
        insert_event(&txn, event).await.map_err(storage)?;
        txn.commit().await.map_err(storage)?;
        Ok(())
    }

    async fn find(&self, tenant: &TenantRef) -> Result<Option<Tenant>, StorageError> {
        let query = match tenant {
            TenantRef::Id(id) => tenants::Entity::find_by_id(id.as_uuid()),
            TenantRef::Slug(slug) => tenants::Entity::find().filter(tenants::Column::Slug.eq(slug.as_str())),
        };
        query.one(&self.db).await.map_err(storage)?.map(tenant_from_row).transpose()
    }

    async fn list(&self, page: PageRequest) -> Result<Page<Tenant>, StorageError> {
        let select = tenants::Entity::find().order_by_asc(tenants::Column::CreatedAt).order_by_asc(tenants::Column::Id);
        fetch_page(&self.db, select, page, tenant_from_row).await
    }

    async fn update(&self, tenant: &Tenant, event: &AuditEvent) -> Result<bool, StorageError> {
        // Never the status: `set_status` alone writes it.
        let mut model = active(tenant);
        model.id = NotSet;
        model.slug = NotSet;
        model.created_at = NotSet;
        model.status = NotSet;
        let write = tenants::Entity::update_many().set(model).filter(tenants::Column::Id.eq(tenant.id.as_uuid()));
        update_recorded(&self.db, write, event).await
    }

    async fn set_status(
        &self,
        id: TenantId,
        status: TenantStatus,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StorageError> {
        let write = tenants::Entity::update_many()
            .col_expr(tenants::Column::Status, Expr::value(status.as_str()))
            .col_expr(tenants::Column::UpdatedAt, Expr::value(at))
            .filter(tenants::Column::Id.eq(id.as_uuid()))
            .filter(tenants::Column::Status.ne(status.as_str()));
        if update_recorded(&self.db, write, event).await? {
            return Ok(true);
        }
        // Unchanged: it already had this status, or it is gone.
        let exists = tenants::Entity::find_by_id(id.as_uuid()).one(&self.db).await.map_err(storage)?.is_some();
        Ok(exists)
    }

    async fn delete(&self, id: TenantId, event: &AuditEvent) -> Result<bool, StorageError> {
        let txn = self.db.begin().await.map_err(storage)?;
        let result = tenants::Entity::delete_by_id(id.as_uuid()).exec(&txn).await.map_err(storage)?;
        commit_if_changed(txn, result.rows_affected == 1, event).await
    }
}
