//! [`LockoutRepository`] over `brute_force_policies` and `sign_in_failures`. A failure is
//! counted by one upsert (`INSERT … ON CONFLICT DO UPDATE … RETURNING`), so concurrent
//! failures on any number of replicas all add up; the lock is then raised by a
//! conditional update that never shortens one in force.

use super::audit::insert_event;
use crate::convert::storage;
use crate::entities::{brute_force_policies, sign_in_failures};
use crate::Database;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyplane_domain::audit::AuditEvent;
use keyplane_domain::error::StorageError;
use keyplane_domain::lockout::{BruteForcePolicy, FailureState, LockoutRepository, LockoutSubject};
use keyplane_domain::scope::Scope;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DbBackend, EntityTrait, QueryFilter, QuerySelect, TransactionTrait,
};
use uuid::Uuid;

/// Lockout state in SQL.
#[derive(Clone)]
pub struct SqlLockout {
    db: Database,
}

impl SqlLockout {
    /// Wraps a connection pool.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

/// The tenant's id, or the nil UUID for the platform.
fn scope_key(scope: Scope) -> Uuid {
    scope.tenant().map_or(Uuid::nil(), |t| t.as_uuid())
}

fn state_of(row: sign_in_failures::Model) -> FailureState {
    FailureState {
        failures: u32::try_from(row.failures).unwrap_or(u32::MAX),
        locked_until: row.locked_until,
        last_failure_at: row.last_failure_at,
    }
}

fn policy_of(row: brute_force_policies::Model) -> Result<BruteForcePolicy, StorageError> {
    BruteForcePolicy::new(
        row.enabled,
        row.max_failures,
        row.lock_seconds,
        row.max_lock_seconds,
        row.failure_reset_seconds,
    )
    .map_err(|e| StorageError::new(format!("corrupt row: brute-force policy: {e}")))
}

fn subject_filter(scope: Scope, subject: &LockoutSubject) -> Condition {
    Condition::all()
        .add(sign_in_failures::Column::ScopeKey.eq(scope_key(scope)))
        .add(sign_in_failures::Column::Subject.eq(subject.as_str()))
}

#[async_trait]
impl LockoutRepository for SqlLockout {
    async fn policy(&self, scope: Scope) -> Result<BruteForcePolicy, StorageError> {
        let row = brute_force_policies::Entity::find_by_id(scope_key(scope)).one(&self.db).await.map_err(storage)?;
        row.map_or(Ok(BruteForcePolicy::default()), policy_of)
    }

    async fn set_policy(
        &self,
        scope: Scope,
        policy: &BruteForcePolicy,
        now: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<(), StorageError> {
        let txn = self.db.begin().await.map_err(storage)?;
        let model = brute_force_policies::ActiveModel {
            scope_key: Set(scope_key(scope)),
            enabled: Set(policy.enabled),
            max_failures: Set(i64::from(policy.max_failures)),
            lock_seconds: Set(policy.lock.num_seconds()),
            max_lock_seconds: Set(policy.max_lock.num_seconds()),
            failure_reset_seconds: Set(policy.failure_reset.num_seconds()),
            updated_at: Set(now),
        };
        use brute_force_policies::Column as C;
        let upsert = OnConflict::column(C::ScopeKey)
            .update_columns([
                C::Enabled,
                C::MaxFailures,
                C::LockSeconds,
                C::MaxLockSeconds,
                C::FailureResetSeconds,
                C::UpdatedAt,
            ])
            .to_owned();
        brute_force_policies::Entity::insert(model)
            .on_conflict(upsert)
            .exec_without_returning(&txn)
            .await
            .map_err(storage)?;
        insert_event(&txn, event).await.map_err(storage)?;
        txn.commit().await.map_err(storage)
    }

    async fn unlock(&self, scope: Scope, subject: &LockoutSubject, event: &AuditEvent) -> Result<bool, StorageError> {
        let txn = self.db.begin().await.map_err(storage)?;
        let result = sign_in_failures::Entity::delete_many()
            .filter(subject_filter(scope, subject))
            .exec(&txn)
            .await
            .map_err(storage)?;
        insert_event(&txn, event).await.map_err(storage)?;
        txn.commit().await.map_err(storage)?;
        Ok(result.rows_affected > 0)
    }

    async fn state(&self, scope: Scope, subject: &LockoutSubject) -> Result<Option<FailureState>, StorageError> {
        let row = sign_in_failures::Entity::find()
            .filter(subject_filter(scope, subject))
            .one(&self.db)
            .await
            .map_err(storage)?;
        Ok(row.map(state_of))
    }

    async fn record_failure(
        &self,
        scope: Scope,
        subject: &LockoutSubject,
        policy: &BruteForcePolicy,
        now: DateTime<Utc>,
    ) -> Result<FailureState, StorageError> {
        let model = sign_in_failures::ActiveModel {
            scope_key: Set(scope_key(scope)),
            subject: Set(subject.as_str().to_owned()),
            failures: Set(1),
            last_failure_at: Set(now),
            locked_until: Set(None),
        };
        // The count starts again after a quiet reset window (unless a lock is in force).
        let restart = now - policy.failure_reset;
        // sea-query renumbers `$N` for PostgreSQL; SQLite binds `?` in order.
        let (p1, p2) = match self.db.get_database_backend() {
            DbBackend::Postgres => ("$1", "$2"),
            _ => ("?", "?"),
        };
        let count = Expr::cust_with_values(
            format!(
                "CASE WHEN sign_in_failures.last_failure_at <= {p1} AND (sign_in_failures.locked_until IS NULL \
                 OR sign_in_failures.locked_until <= {p2}) THEN 1 ELSE sign_in_failures.failures + 1 END"
            ),
            [sea_orm::Value::from(restart), sea_orm::Value::from(now)],
        );
        let upsert = OnConflict::columns([sign_in_failures::Column::ScopeKey, sign_in_failures::Column::Subject])
            .value(sign_in_failures::Column::Failures, count)
            .value(sign_in_failures::Column::LastFailureAt, Expr::value(now))
            .to_owned();
        let row = sign_in_failures::Entity::insert(model)
            .on_conflict(upsert)
            .exec_with_returning(&self.db)
            .await
            .map_err(storage)?;
        let mut state = state_of(row);
        if let Some(lock) = policy.lock_for(state.failures) {
            let until = now + lock;
            sign_in_failures::Entity::update_many()
                .col_expr(sign_in_failures::Column::LockedUntil, Expr::value(until))
                .filter(subject_filter(scope, subject))
                .filter(
                    Condition::any()
                        .add(sign_in_failures::Column::LockedUntil.is_null())
                        .add(sign_in_failures::Column::LockedUntil.lt(until)),
                )
                .exec(&self.db)
                .await
                .map_err(storage)?;
            state.locked_until = Some(state.locked_until.map_or(until, |held| held.max(until)));
        }
        Ok(state)
    }

    async fn clear(&self, scope: Scope, subject: &LockoutSubject) -> Result<bool, StorageError> {
        let result = sign_in_failures::Entity::delete_many()
            .filter(subject_filter(scope, subject))
            .exec(&self.db)
            .await
            .map_err(storage)?;
        Ok(result.rows_affected > 0)
    }

    async fn purge(&self, cutoff: DateTime<Utc>, limit: u64) -> Result<u64, StorageError> {
        let stale = Condition::all().add(sign_in_failures::Column::LastFailureAt.lt(cutoff)).add(
            Condition::any()
                .add(sign_in_failures::Column::LockedUntil.is_null())
                .add(sign_in_failures::Column::LockedUntil.lt(cutoff)),
        );
        let batch: Vec<(Uuid, String)> = sign_in_failures::Entity::find()
            .select_only()
            .column(sign_in_failures::Column::ScopeKey)
            .column(sign_in_failures::Column::Subject)
            .filter(stale.clone())
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(storage)?;
        let mut deleted = 0;
        for (key, subject) in batch {
            let result = sign_in_failures::Entity::delete_many()
                .filter(sign_in_failures::Column::ScopeKey.eq(key))
                .filter(sign_in_failures::Column::Subject.eq(subject))
                .filter(stale.clone())
                .exec(&self.db)
                .await
                .map_err(storage)?;
            deleted += result.rows_affected;
        }
        Ok(deleted)
    }
}
