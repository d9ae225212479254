//! The audit trail: who did what, in which tenant, through which entry point, from where,
//! and with what outcome. Administrative changes are stored with the change itself (the
//! write ports take the [`AuditEvent`] describing them); sign-in events go through
//! [`AuditLog::record`], which may batch them off the request path.

use crate::error::{Invalid, StorageError};
use crate::ids::TenantId;
use crate::page::{Page, PageRequest};
use crate::principal::{Principal, Subject};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

// Where a request came from is part of every event; its types live in `origin` and are
// re-exported here for the readers of the trail.
use crate::origin::{EntryPoint, RequestContext};

pub mod action;

/// What kind of caller acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    /// A tenant user.
    User,
    /// A platform operator.
    PlatformUser,
    /// An API key.
    ApiKey,
    /// Nobody identified (a failed sign-in of an unknown name, for instance).
    Anonymous,
}

impl ActorKind {
    /// The stable name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::User => "user",
            Self::PlatformUser => "platform_user",
            Self::ApiKey => "api_key",
            Self::Anonymous => "anonymous",
        }
    }

    /// Reads a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::User, Self::PlatformUser, Self::ApiKey, Self::Anonymous].into_iter().find(|k| k.as_str() == raw)
    }
}

/// Who acted: kind, id and a display name (a user name, or an API key's public id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The kind.
    pub kind: ActorKind,
    /// The user, operator or key row id.
    pub id: Option<Uuid>,
    /// The user name, or the key's public id; never a secret.
    pub name: Option<String>,
}

impl Actor {
    /// Nobody identified.
    pub fn anonymous() -> Self {
        Self { kind: ActorKind::Anonymous, id: None, name: None }
    }

    /// The subject of a verified credential, by kind, id and name.
    pub fn of(principal: &Principal) -> Self {
        let (kind, id) = match principal.subject {
            Subject::User(u) => (ActorKind::User, u.as_uuid()),
            Subject::PlatformUser(u) => (ActorKind::PlatformUser, u.as_uuid()),
            Subject::ApiKey { key, .. } => (ActorKind::ApiKey, key.as_uuid()),
        };
        Self { kind, id: Some(id), name: Some(principal.name.clone()) }
    }
}

/// Whether the action succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It did.
    Success,
    /// It was refused or failed.
    Failure,
}

impl Outcome {
    /// The stable name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }

    /// Reads a stored or requested name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "success" => Some(Self::Success),
            "failure" => Some(Self::Failure),
            _ => None,
        }
    }
}

/// Who is acting and through which request: what every audited administrative operation
/// takes, so that it can describe the change it makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Initiator {
    /// The caller.
    pub actor: Actor,
    /// The request.
    pub request: RequestContext,
}

impl Initiator {
    /// `principal` acting through `request`: what authentication already verified, with
    /// nothing looked up again.
    pub fn new(principal: &Principal, request: RequestContext) -> Self {
        Self { actor: Actor::of(principal), request }
    }

    /// Whether the caller is the user or operator `id` in person (not an API key of
    /// theirs, nor anyone else).
    pub fn is_person(&self, id: Uuid) -> bool {
        matches!(self.actor.kind, ActorKind::User | ActorKind::PlatformUser) && self.actor.id == Some(id)
    }

    /// A successful event of `action` in `tenant` (`None`: the platform) at `time`.
    pub fn event(&self, tenant: Option<TenantId>, action: &'static str, time: DateTime<Utc>) -> AuditEvent {
        AuditEvent::new(time, tenant, self.actor.clone(), action, Outcome::Success, &self.request)
    }
}

/// A small JSON object of facts about an event: ids, names and lists of field names.
/// Keys are chosen by code (`&'static str`), never by a client. It must never hold a
/// secret: no password, key secret, token, hash or key material, and no field value a
/// client sent except names and ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Details(Map<String, Value>);

impl Details {
    /// Adds a fact.
    #[must_use]
    pub fn with(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.0.insert(key.to_owned(), value.into());
        self
    }

    /// Wraps what was stored (a non-object becomes empty).
    pub fn from_stored(value: Value) -> Self {
        match value {
            Value::Object(map) => Self(map),
            _ => Self::default(),
        }
    }

    /// The JSON object.
    pub fn to_value(&self) -> Value {
        Value::Object(self.0.clone())
    }

    /// Looks a fact up.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }
}

/// One entry of the audit trail. Nothing in it is ever a secret (see [`Details`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Time-ordered (v7) identifier.
    pub id: Uuid,
    /// When it happened.
    pub time: DateTime<Utc>,
    /// The tenant it concerns; `None` for the platform.
    pub tenant: Option<TenantId>,
    /// Who acted.
    pub actor: Actor,
    /// What happened: one of [`action`]'s names.
    pub action: String,
    /// Whether it succeeded.
    pub outcome: Outcome,
    /// The surface it came through.
    pub entry_point: EntryPoint,
    /// The client's address.
    pub client_address: Option<String>,
    /// The client's user agent.
    pub user_agent: Option<String>,
    /// The request's correlation id.
    pub request_id: Option<String>,
    /// Facts about it; never a secret.
    pub details: Details,
}

impl AuditEvent {
    /// An event with a fresh id and empty details.
    pub fn new(
        time: DateTime<Utc>,
        tenant: Option<TenantId>,
        actor: Actor,
        action: &'static str,
        outcome: Outcome,
        request: &RequestContext,
    ) -> Self {
        Self {
            id: Uuid::now_v7(),
            time,
            tenant,
            actor,
            action: action.to_owned(),
            outcome,
            entry_point: request.entry_point,
            client_address: request.client_address.map(|a| a.to_string()),
            user_agent: request.user_agent.clone(),
            request_id: request.request_id.clone(),
            details: Details::default(),
        }
    }

    /// Adds a fact to the details (see [`Details`]: never a secret).
    #[must_use]
    pub fn with(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.details = self.details.with(key, value);
        self
    }
}

/// Which tenants' events a query may see: decided by the caller's credential before the
/// query, and applied by every implementation in the query itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditScope {
    /// Every event, the platform's and every tenant's (platform operators).
    All,
    /// One tenant's events only.
    Tenant(TenantId),
}

/// Longest `action` or `actor` filter accepted.
pub const MAX_FILTER_CHARS: usize = 128;

/// Filters of an audit query; all must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// The action starts with this (`user.` matches every user event).
    pub action_prefix: Option<String>,
    /// The actor's name (without regard to case) or id.
    pub actor: Option<String>,
    /// The outcome.
    pub outcome: Option<Outcome>,
    /// At or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Before this time.
    pub until: Option<DateTime<Utc>>,
}

impl AuditFilter {
    /// Validates raw filters.
    ///
    /// # Errors
    /// [`Invalid`] naming `action` (not made of `a-z`, `0-9`, `.` and `_`, or too long),
    /// `actor` (empty, too long, or holding a control character), `outcome` (neither `success` nor `failure`) or
    /// `until` (before `since`).
    pub fn parse(
        action: Option<&str>,
        actor: Option<&str>,
        outcome: Option<&str>,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Self, Invalid> {
        let action_prefix = match action {
            None => None,
            Some(a)
                if !a.is_empty()
                    && a.len() <= MAX_FILTER_CHARS
                    && a.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_') =>
            {
                Some(a.to_owned())
            }
            Some(_) => return Err(Invalid::new("action", "must be 1 to 128 of a-z, 0-9, '.' and '_'")),
        };
        let actor = match actor.map(str::trim) {
            None => None,
            Some(a) if !a.is_empty() && a.chars().count() <= MAX_FILTER_CHARS && !a.chars().any(char::is_control) => {
                Some(a.to_owned())
            }
            Some(_) => {
                return Err(Invalid::new(
                    "actor",
                    "must be a name or id of 1 to 128 characters, without control characters",
                ))
            }
        };
        let outcome = match outcome {
            None => None,
            Some(o) => Some(Outcome::parse(o).ok_or_else(|| Invalid::new("outcome", "must be success or failure"))?),
        };
        if let (Some(s), Some(u)) = (since, until) {
            if u < s {
                return Err(Invalid::new("until", "must not lie before since"));
            }
        }
        Ok(Self { action_prefix, actor, outcome, since, until })
    }
}

/// Storage of the audit trail.
///
/// Implementations must: store every field of an event as given (the id is unique; a
/// repeated id is an error); apply the [`AuditScope`] and every filter of [`AuditFilter`]
/// in the query itself, so that no event of another tenant is ever read; list newest
/// first (by time, then id); and never fail an event for its content (an unknown action
/// is stored as is). Administrative changes do not come here: their write ports take the
/// event and store it in the change's own transaction.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Stores one event. A buffered implementation may return before the event is
    /// durable, but must store it before a graceful shutdown completes.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn record(&self, event: &AuditEvent) -> Result<(), StorageError>;

    /// Stores several events; a store that can should do it in one statement, all or
    /// nothing. The default stores them one by one.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn record_batch(&self, events: &[AuditEvent]) -> Result<(), StorageError> {
        for event in events {
            self.record(event).await?;
        }
        Ok(())
    }

    /// One page of the events in `scope` matching `filter`, newest first, with the total
    /// number of matches.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn list(
        &self,
        scope: AuditScope,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEvent>, StorageError>;

    /// Deletes at most `limit` events older than `cutoff`; returns how many.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn purge(&self, cutoff: DateTime<Utc>, limit: u64) -> Result<u64, StorageError>;
}

#[cfg(test)]
mod tests;
