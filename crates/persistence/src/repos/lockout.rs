//! [`LockoutRepository`] over `brute_force_policies` and `sign_in_failures`. An attempt is
//! reserved by one conditional upsert per counter (`INSERT … ON CONFLICT DO UPDATE …
//! WHERE neither locked nor full RETURNING`), which counts it as being verified; the
//! counters of one attempt are reserved in one transaction, always in the same order.
//! A failure is one upsert that settles the place as a failure, and the lock it earns is
//! set in the same transaction. So concurrent attempts on any number of replicas are
//! counted one by one, and none is granted past a counter's limit.

use super::audit::insert_event;
use crate::convert::storage;
use crate::entities::{brute_force_policies, sign_in_failures};
use crate::Database;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyplane_domain::audit::AuditEvent;
use keyplane_domain::error::StorageError;
use keyplane_domain::lockout::{
    BruteForcePolicy, Counter, FailureState, LockoutRepository, LockoutSubject, Reservation,
};
use keyplane_domain::scope::Scope;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, TransactionTrait,
};
use statements::{failure, reservation, scope_key, Sql, COLUMNS};
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

fn state_of(row: sign_in_failures::Model) -> FailureState {
    FailureState {
        failures: u32::try_from(row.failures).unwrap_or(u32::MAX),
        pending: u32::try_from(row.pending).unwrap_or(0),
        locked_until: row.locked_until,
        last_failure_at: row.last_failure_at,
    }
}

fn policy_of(row: brute_force_policies::Model) -> Result<BruteForcePolicy, StorageError> {
    BruteForcePolicy::new(
        row.enabled,
        row.max_failures,
        row.max_failures_total,
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

mod statements;

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
            max_failures_total: Set(i64::from(policy.max_failures_total)),
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
                C::MaxFailuresTotal,
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
        let backend = self.db.get_database_backend();
        let txn = self.db.begin().await.map_err(storage)?;
        // The address counters first, as a reservation takes them.
        let mut q = Sql::new(backend);
        let text = format!(
            "DELETE FROM sign_in_failures WHERE scope_key = {} AND {}",
            q.bind(scope_key(scope)),
            q.prefixed(&subject.address_prefix())
        );
        let addresses = txn.execute_raw(q.statement(text)).await.map_err(storage)?.rows_affected();
        let result = sign_in_failures::Entity::delete_many()
            .filter(subject_filter(scope, subject))
            .exec(&txn)
            .await
            .map_err(storage)?;
        insert_event(&txn, event).await.map_err(storage)?;
        txn.commit().await.map_err(storage)?;
        Ok(result.rows_affected + addresses > 0)
    }

    async fn state(&self, scope: Scope, subject: &LockoutSubject) -> Result<Option<FailureState>, StorageError> {
        let row = sign_in_failures::Entity::find()
            .filter(subject_filter(scope, subject))
            .one(&self.db)
            .await
            .map_err(storage)?;
        Ok(row.map(state_of))
    }

    async fn address_states(
        &self,
        scope: Scope,
        subject: &LockoutSubject,
        limit: u64,
    ) -> Result<Vec<(String, FailureState)>, StorageError> {
        let prefix = subject.address_prefix();
        let mut q = Sql::new(self.db.get_database_backend());
        let text = format!(
            "SELECT {COLUMNS} FROM sign_in_failures WHERE scope_key = {} AND {} \
             ORDER BY last_failure_at DESC LIMIT {}",
            q.bind(scope_key(scope)),
            q.prefixed(&prefix),
            q.bind(i64::try_from(limit).unwrap_or(i64::MAX)),
        );
        let rows =
            sign_in_failures::Entity::find().from_raw_sql(q.statement(text)).all(&self.db).await.map_err(storage)?;
        Ok(rows
            .into_iter()
            .map(|row| (row.subject.strip_prefix(prefix.as_str()).unwrap_or_default().to_owned(), state_of(row)))
            .collect())
    }

    async fn reserve(
        &self,
        scope: Scope,
        counters: &[Counter],
        policy: &BruteForcePolicy,
        now: DateTime<Utc>,
    ) -> Result<Reservation, StorageError> {
        let backend = self.db.get_database_backend();
        let txn = self.db.begin().await.map_err(storage)?;
        let mut states = Vec::with_capacity(counters.len());
        for (index, counter) in counters.iter().enumerate() {
            let row = sign_in_failures::Entity::find()
                .from_raw_sql(reservation(backend, scope, counter, policy, now))
                .one(&txn)
                .await
                .map_err(storage)?;
            if let Some(row) = row {
                states.push(state_of(row));
                continue;
            }
            // Locked: the upsert's condition held it back. Nothing is counted.
            let held = sign_in_failures::Entity::find()
                .filter(subject_filter(scope, &counter.subject))
                .one(&txn)
                .await
                .map_err(storage)?;
            txn.rollback().await.map_err(storage)?;
            let state = held.map(state_of).ok_or_else(|| StorageError::new("a refused reservation has no record"))?;
            return Ok(Reservation::Refused { counter: index, state });
        }
        txn.commit().await.map_err(storage)?;
        Ok(Reservation::Granted(states))
    }

    async fn fail(
        &self,
        scope: Scope,
        counters: &[Counter],
        policy: &BruteForcePolicy,
        now: DateTime<Utc>,
    ) -> Result<Vec<FailureState>, StorageError> {
        let backend = self.db.get_database_backend();
        // One transaction: between the count and its lock no reservation may slip in.
        let txn = self.db.begin().await.map_err(storage)?;
        let mut states = Vec::with_capacity(counters.len());
        for counter in counters {
            let row = sign_in_failures::Entity::find()
                .from_raw_sql(failure(backend, scope, counter, policy, now))
                .one(&txn)
                .await
                .map_err(storage)?
                .ok_or_else(|| StorageError::new("a counted failure returned no record"))?;
            let mut state = state_of(row);
            if let Some(lock) = policy.lock_after(counter.limit, state.failures) {
                let until = now + lock;
                sign_in_failures::Entity::update_many()
                    .col_expr(sign_in_failures::Column::LockedUntil, Expr::value(until))
                    .filter(subject_filter(scope, &counter.subject))
                    .filter(
                        Condition::any()
                            .add(sign_in_failures::Column::LockedUntil.is_null())
                            .add(sign_in_failures::Column::LockedUntil.lt(until)),
                    )
                    .exec(&txn)
                    .await
                    .map_err(storage)?;
                state.locked_until = Some(state.locked_until.filter(|held| *held > until).unwrap_or(until));
            }
            states.push(state);
        }
        txn.commit().await.map_err(storage)?;
        Ok(states)
    }

    async fn release(&self, scope: Scope, observed: &[(Counter, u32)]) -> Result<(), StorageError> {
        let backend = self.db.get_database_backend();
        let txn = self.db.begin().await.map_err(storage)?;
        for (counter, count) in observed {
            let mut q = Sql::new(backend);
            let text = format!(
                "UPDATE sign_in_failures SET failures = CASE WHEN failures > {n} THEN failures - {n2} ELSE 0 END, \
                 pending = CASE WHEN pending > 0 THEN pending - 1 ELSE 0 END, \
                 locked_until = CASE WHEN failures - {n3} < {limit} THEN NULL ELSE locked_until END \
                 WHERE scope_key = {key} AND subject = {subject}",
                n = q.bind(i64::from(*count)),
                n2 = q.bind(i64::from(*count)),
                n3 = q.bind(i64::from(*count)),
                limit = q.bind(i64::from(counter.limit)),
                key = q.bind(scope_key(scope)),
                subject = q.bind(counter.subject.as_str()),
            );
            txn.execute_raw(q.statement(text)).await.map_err(storage)?;
            sign_in_failures::Entity::delete_many()
                .filter(subject_filter(scope, &counter.subject))
                .filter(sign_in_failures::Column::Failures.lte(0))
                .filter(sign_in_failures::Column::Pending.lte(0))
                .exec(&txn)
                .await
                .map_err(storage)?;
        }
        txn.commit().await.map_err(storage)
    }

    async fn purge(&self, cutoff: DateTime<Utc>, limit: u64) -> Result<u64, StorageError> {
        // Neither a lock nor a place being verified may be forgotten.
        let stale = Condition::all()
            .add(sign_in_failures::Column::LastFailureAt.lt(cutoff))
            .add(
                Condition::any()
                    .add(sign_in_failures::Column::LockedUntil.is_null())
                    .add(sign_in_failures::Column::LockedUntil.lt(cutoff)),
            )
            .add(
                Condition::any()
                    .add(sign_in_failures::Column::PendingAt.is_null())
                    .add(sign_in_failures::Column::PendingAt.lt(cutoff)),
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
