//! [`AuditLog`] over the `audit_events` table, and the insert that the other repositories
//! run inside their own transactions so that a change and its event commit together.

use super::page::fetch_page;
use crate::convert::{classify, storage, WriteFailure};
use crate::entities::audit_events;
use crate::Database;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyplane_domain::audit::{Actor, ActorKind, AuditEvent, AuditFilter, AuditLog, AuditScope, Details, Outcome};
use keyplane_domain::error::StorageError;
use keyplane_domain::ids::TenantId;
use keyplane_domain::origin::parse_entry_point;
use keyplane_domain::page::{Page, PageRequest};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Func, LikeExpr, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder, TransactionTrait, UpdateMany,
};
use uuid::Uuid;

/// The audit trail in SQL.
#[derive(Clone)]
pub struct SqlAuditLog {
    db: Database,
}

impl SqlAuditLog {
    /// Wraps a connection pool.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

/// Ends a change's transaction: with `event` inserted and committed when the change took
/// effect (`changed`), rolled back (nothing was changed) otherwise. Returns `changed`.
pub(crate) async fn commit_if_changed(
    txn: DatabaseTransaction,
    changed: bool,
    event: &AuditEvent,
) -> Result<bool, StorageError> {
    if changed {
        insert_event(&txn, event).await.map_err(storage)?;
        txn.commit().await.map_err(storage)?;
    } else {
        txn.rollback().await.map_err(storage)?;
    }
    Ok(changed)
}

/// Inserts `model` and `event` in one transaction: both are stored, or neither. The
/// insert's failure comes back classified (a taken unique value, a missing parent).
pub(crate) async fn insert_recorded<A>(db: &Database, model: A, event: &AuditEvent) -> Result<(), WriteFailure>
where
    A: ActiveModelTrait + Send,
{
    let txn = db.begin().await.map_err(|e| WriteFailure::Other(storage(e)))?;
    <A::Entity as EntityTrait>::insert(model).exec_without_returning(&txn).await.map_err(classify)?;
    insert_event(&txn, event).await.map_err(|e| WriteFailure::Other(storage(e)))?;
    txn.commit().await.map_err(|e| WriteFailure::Other(storage(e)))?;
    Ok(())
}

/// Runs `update` and, when it changed exactly one row, stores `event` with it in one
/// transaction (see [`commit_if_changed`]). Returns whether it changed that row.
pub(crate) async fn update_recorded<E: EntityTrait>(
    db: &Database,
    update: UpdateMany<E>,
    event: &AuditEvent,
) -> Result<bool, StorageError> {
    let txn = db.begin().await.map_err(storage)?;
    let result = update.exec(&txn).await.map_err(storage)?;
    commit_if_changed(txn, result.rows_affected == 1, event).await
}

/// Inserts `event` on `conn`: a transaction of the change it describes, or the pool.
pub(crate) async fn insert_event(conn: &impl ConnectionTrait, event: &AuditEvent) -> Result<(), DbErr> {
    audit_events::Entity::insert(row(event)).exec_without_returning(conn).await.map(|_| ())
}

fn row(e: &AuditEvent) -> audit_events::ActiveModel {
    audit_events::ActiveModel {
        id: Set(e.id),
        occurred_at: Set(e.time),
        tenant_id: Set(e.tenant.map(|t| t.as_uuid())),
        actor_kind: Set(e.actor.kind.as_str().to_owned()),
        actor_id: Set(e.actor.id),
        actor_name: Set(e.actor.name.clone()),
        action: Set(e.action.clone()),
        outcome: Set(e.outcome.as_str().to_owned()),
        entry_point: Set(e.entry_point.as_str().to_owned()),
        client_address: Set(e.client_address.clone()),
        user_agent: Set(e.user_agent.clone()),
        request_id: Set(e.request_id.clone()),
        details: Set(e.details.to_value()),
    }
}

fn from_row(r: audit_events::Model) -> Result<AuditEvent, StorageError> {
    let corrupt = |what: &str| StorageError::new(format!("corrupt row: audit {what}"));
    Ok(AuditEvent {
        id: r.id,
        time: r.occurred_at,
        tenant: r.tenant_id.map(TenantId::from_uuid),
        actor: Actor {
            kind: ActorKind::parse(&r.actor_kind).ok_or_else(|| corrupt("actor kind"))?,
            id: r.actor_id,
            name: r.actor_name,
        },
        action: r.action,
        outcome: Outcome::parse(&r.outcome).ok_or_else(|| corrupt("outcome"))?,
        entry_point: parse_entry_point(&r.entry_point).ok_or_else(|| corrupt("entry point"))?,
        client_address: r.client_address,
        user_agent: r.user_agent,
        request_id: r.request_id,
        details: Details::from_stored(r.details),
    })
}

/// `LIKE` pattern for "starts with `prefix`", escaping the wildcards `%` and `_` (action
/// names contain `_`).
fn prefix_pattern(prefix: &str) -> LikeExpr {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    LikeExpr::new(pattern).escape('\\')
}

fn condition(scope: AuditScope, filter: &AuditFilter) -> Condition {
    let mut cond = Condition::all();
    if let AuditScope::Tenant(t) = scope {
        cond = cond.add(audit_events::Column::TenantId.eq(t.as_uuid()));
    }
    if let Some(prefix) = &filter.action_prefix {
        cond = cond.add(Expr::col(audit_events::Column::Action).like(prefix_pattern(prefix)));
    }
    if let Some(actor) = &filter.actor {
        let by_name = Expr::expr(Func::lower(Expr::col(audit_events::Column::ActorName))).eq(actor.to_lowercase());
        cond = cond.add(match Uuid::parse_str(actor) {
            Ok(id) => Condition::any().add(by_name).add(audit_events::Column::ActorId.eq(id)),
            Err(_) => Condition::any().add(by_name),
        });
    }
    if let Some(outcome) = filter.outcome {
        cond = cond.add(audit_events::Column::Outcome.eq(outcome.as_str()));
    }
    if let Some(since) = filter.since {
        cond = cond.add(audit_events::Column::OccurredAt.gte(since));
    }
    if let Some(until) = filter.until {
        cond = cond.add(audit_events::Column::OccurredAt.lt(until));
    }
    cond
}

#[async_trait]
impl AuditLog for SqlAuditLog {
    async fn record(&self, event: &AuditEvent) -> Result<(), StorageError> {
        insert_event(&self.db, event).await.map_err(storage)
    }

    async fn record_batch(&self, events: &[AuditEvent]) -> Result<(), StorageError> {
        if events.is_empty() {
            return Ok(());
        }
        audit_events::Entity::insert_many(events.iter().map(row))
            .exec_without_returning(&self.db)
            .await
            .map_err(storage)?;
        Ok(())
    }

    async fn list(
        &self,
        scope: AuditScope,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEvent>, StorageError> {
        let select = audit_events::Entity::find()
            .filter(condition(scope, filter))
            .order_by_desc(audit_events::Column::OccurredAt)
            .order_by_desc(audit_events::Column::Id);
        fetch_page(&self.db, select, page, from_row).await
    }

    async fn purge(&self, cutoff: DateTime<Utc>, limit: u64) -> Result<u64, StorageError> {
        let old = Query::select()
            .column(audit_events::Column::Id)
            .from(audit_events::Entity)
            .and_where(Expr::col(audit_events::Column::OccurredAt).lt(cutoff))
            .limit(limit)
            .to_owned();
        let result = audit_events::Entity::delete_many()
            .filter(audit_events::Column::Id.in_subquery(old))
            .exec(&self.db)
            .await
            .map_err(storage)?;
        Ok(result.rows_affected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_escape_like_wildcards() {
        let sql = Query::select()
            .column(audit_events::Column::Id)
            .from(audit_events::Entity)
            .and_where(Expr::col(audit_events::Column::Action).like(prefix_pattern("user.sign_in")))
            .to_string(sea_orm::sea_query::SqliteQueryBuilder);
        assert!(sql.contains(r"LIKE 'user.sign\_in%' ESCAPE '\'"), "{sql}");
    }
}
