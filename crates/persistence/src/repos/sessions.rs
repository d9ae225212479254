//! [`SessionRepository`] over the `sessions` table. Rotation is a single conditional
//! `UPDATE … WHERE refresh_jti = :presented … RETURNING *`, so concurrent refreshes of one
//! token have exactly one winner on SQLite and PostgreSQL, across processes. Purging is
//! `DELETE … WHERE id IN (SELECT id … LIMIT n)`: bounded, and portable to both.

use super::page::fetch_page;
use crate::convert::{scope_filter, storage};
use crate::entities::sessions;
use crate::Database;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyplane_domain::audit::AuditEvent;
use keyplane_domain::error::StorageError;
use keyplane_domain::ids::{SessionId, TenantId};
use keyplane_domain::page::{Page, PageRequest};
use keyplane_domain::scope::Scope;
use keyplane_domain::session::{Session, SessionRepository, SessionSubject};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Query};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

/// Sessions in SQL.
#[derive(Clone)]
pub struct SqlSessions {
    db: Database,
}

impl SqlSessions {
    /// Wraps a connection pool.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn scoped(scope: Scope) -> sea_orm::Select<sessions::Entity> {
    sessions::Entity::find().filter(scope_filter(sessions::Column::TenantId, scope))
}

fn from_row(row: sessions::Model) -> Result<Session, StorageError> {
    Ok(Session {
        id: SessionId::from_uuid(row.id),
        scope: row.tenant_id.map_or(Scope::Platform, |t| Scope::Tenant(TenantId::from_uuid(t))),
        subject: SessionSubject::from_stored(&row.subject_kind, row.subject_id)
            .ok_or_else(|| StorageError::new("corrupt row: session subject"))?,
        subject_name: row.subject_name,
        created_at: row.created_at,
        expires_at: row.expires_at,
        refresh_jti: row.refresh_jti,
        previous_refresh_jti: row.previous_refresh_jti,
        rotated_at: row.rotated_at,
        refresh_count: row.refresh_count,
        revoked_at: row.revoked_at,
        revoked_reason: row.revoked_reason,
    })
}

#[async_trait]
impl SessionRepository for SqlSessions {
    async fn insert(&self, s: &Session) -> Result<(), StorageError> {
        let model = sessions::ActiveModel {
            id: Set(s.id.as_uuid()),
            tenant_id: Set(s.scope.tenant().map(|t| t.as_uuid())),
            subject_kind: Set(s.subject.kind().to_owned()),
            subject_id: Set(s.subject.id()),
            subject_name: Set(s.subject_name.clone()),
            created_at: Set(s.created_at),
            expires_at: Set(s.expires_at),
            refresh_jti: Set(s.refresh_jti.clone()),
            previous_refresh_jti: Set(s.previous_refresh_jti.clone()),
            rotated_at: Set(s.rotated_at),
            refresh_count: Set(s.refresh_count),
            revoked_at: Set(s.revoked_at),
            revoked_reason: Set(s.revoked_reason.clone()),
        };
        sessions::Entity::insert(model).exec_without_returning(&self.db).await.map_err(storage)?;
        Ok(())
    }

    async fn find(&self, scope: Scope, id: SessionId) -> Result<Option<Session>, StorageError> {
        let row = scoped(scope).filter(sessions::Column::Id.eq(id.as_uuid())).one(&self.db).await.map_err(storage)?;
        row.map(from_row).transpose()
    }

    async fn rotate(
        &self,
        scope: Scope,
        id: SessionId,
        presented: &str,
        new_jti: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StorageError> {
        let rows = sessions::Entity::update_many()
            .col_expr(sessions::Column::RefreshJti, Expr::value(new_jti))
            .col_expr(sessions::Column::PreviousRefreshJti, Expr::value(presented))
            .col_expr(sessions::Column::RotatedAt, Expr::value(now))
            .col_expr(sessions::Column::RefreshCount, Expr::col(sessions::Column::RefreshCount).add(1))
            .filter(scope_filter(sessions::Column::TenantId, scope))
            .filter(sessions::Column::Id.eq(id.as_uuid()))
            .filter(sessions::Column::RefreshJti.eq(presented))
            .filter(sessions::Column::RevokedAt.is_null())
            .filter(sessions::Column::ExpiresAt.gt(now))
            .exec_with_returning(&self.db)
            .await
            .map_err(storage)?;
        rows.into_iter().next().map(from_row).transpose()
    }

    async fn revoke(
        &self,
        scope: Scope,
        id: SessionId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        let result = sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(now))
            .col_expr(sessions::Column::RevokedReason, Expr::value(reason))
            .filter(scope_filter(sessions::Column::TenantId, scope))
            .filter(sessions::Column::Id.eq(id.as_uuid()))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(storage)?;
        Ok(result.rows_affected == 1)
    }

    async fn revoke_recorded(
        &self,
        scope: Scope,
        id: SessionId,
        reason: &str,
        now: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StorageError> {
        let revoke = sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(now))
            .col_expr(sessions::Column::RevokedReason, Expr::value(reason))
            .filter(scope_filter(sessions::Column::TenantId, scope))
            .filter(sessions::Column::Id.eq(id.as_uuid()))
            .filter(sessions::Column::RevokedAt.is_null());
        super::audit::update_recorded(&self.db, revoke, event).await
    }

    async fn revoke_subject(
        &self,
        scope: Scope,
        subject: SessionSubject,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StorageError> {
        let result = sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(now))
            .col_expr(sessions::Column::RevokedReason, Expr::value(reason))
            .filter(scope_filter(sessions::Column::TenantId, scope))
            .filter(sessions::Column::SubjectKind.eq(subject.kind()))
            .filter(sessions::Column::SubjectId.eq(subject.id()))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(storage)?;
        Ok(result.rows_affected)
    }

    async fn list_active(
        &self,
        scope: Scope,
        subject: Option<SessionSubject>,
        now: DateTime<Utc>,
        page: PageRequest,
    ) -> Result<Page<Session>, StorageError> {
        let mut select =
            scoped(scope).filter(sessions::Column::RevokedAt.is_null()).filter(sessions::Column::ExpiresAt.gt(now));
        if let Some(subject) = subject {
            select = select
                .filter(sessions::Column::SubjectKind.eq(subject.kind()))
                .filter(sessions::Column::SubjectId.eq(subject.id()));
        }
        let select = select.order_by_desc(sessions::Column::CreatedAt).order_by_desc(sessions::Column::Id);
        fetch_page(&self.db, select, page, from_row).await
    }

    async fn purge(&self, cutoff: DateTime<Utc>, limit: u64) -> Result<u64, StorageError> {
        let ended = Query::select()
            .column(sessions::Column::Id)
            .from(sessions::Entity)
            .cond_where(
                Condition::any()
                    .add(sessions::Column::ExpiresAt.lt(cutoff))
                    .add(sessions::Column::RevokedAt.lt(cutoff)),
            )
            .limit(limit)
            .to_owned();
        let result = sessions::Entity::delete_many()
            .filter(sessions::Column::Id.in_subquery(ended))
            .exec(&self.db)
            .await
            .map_err(storage)?;
        Ok(result.rows_affected)
    }
}
