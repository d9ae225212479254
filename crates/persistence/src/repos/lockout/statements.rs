//! The raw statements of the lockout counters: a reservation and a failure are each one
//! upsert whose arithmetic (reset window, lapsed places, the lock table) both backends
//! evaluate alike; parameters are bound in the order they appear.

use chrono::{DateTime, Utc};
use keyplane_domain::lockout::{BruteForcePolicy, Counter, PENDING_TTL};
use keyplane_domain::scope::Scope;
use sea_orm::{DbBackend, Statement};
use uuid::Uuid;

/// The tenant's id, or the nil UUID for the platform.
pub(super) fn scope_key(scope: Scope) -> Uuid {
    scope.tenant().map_or(Uuid::nil(), |t| t.as_uuid())
}

/// The columns of `sign_in_failures`, as raw statements return them.
pub(super) const COLUMNS: &str = "scope_key, subject, failures, last_failure_at, locked_until, pending, pending_at";

/// A raw statement's text and parameters: `$n` for PostgreSQL, `?` in order for SQLite,
/// so parameters are bound in the order they appear in the text.
pub(super) struct Sql {
    backend: DbBackend,
    values: Vec<sea_orm::Value>,
}

impl Sql {
    pub(super) fn new(backend: DbBackend) -> Self {
        Self { backend, values: Vec::new() }
    }

    /// Adds a parameter; returns its placeholder.
    pub(super) fn bind(&mut self, value: impl Into<sea_orm::Value>) -> String {
        self.values.push(value.into());
        match self.backend {
            DbBackend::Postgres => format!("${}", self.values.len()),
            _ => "?".to_owned(),
        }
    }

    /// A condition: `subject` begins with `prefix` (compared as characters, as both
    /// backends count them; no pattern, so nothing in a name needs escaping).
    pub(super) fn prefixed(&mut self, prefix: &str) -> String {
        let length = i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX);
        format!("substr(subject, 1, {}) = {}", self.bind(length), self.bind(prefix))
    }

    pub(super) fn statement(self, text: String) -> Statement {
        Statement::from_sql_and_values(self.backend, text, self.values)
    }
}

/// The failures that still count: none after a quiet reset window.
fn current_failures(q: &mut Sql, restart: DateTime<Utc>) -> String {
    format!(
        "(CASE WHEN sign_in_failures.last_failure_at <= {} THEN 0 ELSE sign_in_failures.failures END)",
        q.bind(restart)
    )
}

/// The attempts still being verified: none reserved longer ago than [`PENDING_TTL`].
fn current_pending(q: &mut Sql, now: DateTime<Utc>) -> String {
    format!(
        "(CASE WHEN sign_in_failures.pending_at IS NULL OR sign_in_failures.pending_at <= {} THEN 0 \
         ELSE sign_in_failures.pending END)",
        q.bind(now - PENDING_TTL)
    )
}

/// The upsert that reserves one attempt on `counter`; it returns the record after it, or
/// no row when the counter refuses: locked, or its failures and pending attempts fill its
/// limit (once a lock has ended, it takes one attempt at a time).
pub(super) fn reservation(
    backend: DbBackend,
    scope: Scope,
    counter: &Counter,
    policy: &BruteForcePolicy,
    now: DateTime<Utc>,
) -> Statement {
    let mut q = Sql::new(backend);
    let restart = now - policy.failure_reset;
    let limit = i64::from(counter.limit);
    let mut text = format!(
        "INSERT INTO sign_in_failures ({COLUMNS}) VALUES ({}, {}, 0, {}, NULL, 1, {}) \
         ON CONFLICT (scope_key, subject) DO UPDATE SET failures = ",
        q.bind(scope_key(scope)),
        q.bind(counter.subject.as_str()),
        q.bind(now),
        q.bind(now),
    );
    text += &current_failures(&mut q, restart);
    text += &format!(
        ", locked_until = CASE WHEN sign_in_failures.last_failure_at <= {} THEN NULL \
         ELSE sign_in_failures.locked_until END, pending = ",
        q.bind(restart)
    );
    text += &current_pending(&mut q, now);
    // `pending_at` dates the oldest place still counted: a place never settled (its
    // process died) lapses 120 s after it was taken, however busy the counter stays.
    let pending = current_pending(&mut q, now);
    text += &format!(" + 1, pending_at = CASE WHEN {pending} = 0 THEN {} ", q.bind(now));
    text += "ELSE sign_in_failures.pending_at END WHERE (sign_in_failures.locked_until IS NULL OR ";
    text += &format!("sign_in_failures.locked_until <= {}) AND (", q.bind(now));
    let (failures, pending) = (current_failures(&mut q, restart), current_pending(&mut q, now));
    // Past the limit without a lock in force (its lock ended, or the limit was lowered):
    // one attempt at a time.
    text += &format!("{failures} + {pending} < {} OR (", q.bind(limit));
    // Placeholders are bound in the order they appear (SQLite's `?` are positional).
    let failures = current_failures(&mut q, restart);
    let at_limit = q.bind(limit);
    let pending = current_pending(&mut q, now);
    text += &format!("{failures} >= {at_limit} AND {pending} = 0)) RETURNING {COLUMNS}");
    q.statement(text)
}

/// The upsert that settles one failure on `counter` (a place it held becomes a failure;
/// none held: a wrong key secret); it returns the record after it.
pub(super) fn failure(
    backend: DbBackend,
    scope: Scope,
    counter: &Counter,
    policy: &BruteForcePolicy,
    now: DateTime<Utc>,
) -> Statement {
    let mut q = Sql::new(backend);
    let mut text = format!(
        "INSERT INTO sign_in_failures ({COLUMNS}) VALUES ({}, {}, 1, {}, NULL, 0, NULL) \
         ON CONFLICT (scope_key, subject) DO UPDATE SET failures = ",
        q.bind(scope_key(scope)),
        q.bind(counter.subject.as_str()),
        q.bind(now),
    );
    text += &current_failures(&mut q, now - policy.failure_reset);
    text += &format!(
        " + 1, last_failure_at = {}, pending = CASE WHEN sign_in_failures.pending > 0 \
         THEN sign_in_failures.pending - 1 ELSE 0 END RETURNING {COLUMNS}",
        q.bind(now)
    );
    q.statement(text)
}
