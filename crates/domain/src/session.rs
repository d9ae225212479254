//! Sessions: created by every sign-in, carrying the refresh-token rotation state.

use crate::audit::{Actor, ActorKind, AuditEvent};
use crate::error::StorageError;
use crate::ids::{ApiKeyId, PlatformUserId, SessionId, UserId};
use crate::page::{Page, PageRequest};
use crate::scope::Scope;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Who signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionSubject {
    /// A tenant user.
    User(UserId),
    /// A platform operator.
    PlatformUser(PlatformUserId),
    /// An API key (client credentials).
    ApiKey(ApiKeyId),
}

impl SessionSubject {
    /// The stored kind name.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::User(_) => "user",
            Self::PlatformUser(_) => "platform_user",
            Self::ApiKey(_) => "api_key",
        }
    }

    /// The subject's id.
    pub fn id(&self) -> Uuid {
        match self {
            Self::User(u) => u.as_uuid(),
            Self::PlatformUser(u) => u.as_uuid(),
            Self::ApiKey(k) => k.as_uuid(),
        }
    }

    /// The audit actor of this subject, named `name` (a user name, or a key's public id).
    pub fn actor(self, name: &str) -> Actor {
        let kind = match self {
            Self::User(_) => ActorKind::User,
            Self::PlatformUser(_) => ActorKind::PlatformUser,
            Self::ApiKey(_) => ActorKind::ApiKey,
        };
        Actor { kind, id: Some(self.id()), name: Some(name.to_owned()) }
    }

    /// Rebuilds a subject from storage.
    pub fn from_stored(kind: &str, id: Uuid) -> Option<Self> {
        match kind {
            "user" => Some(Self::User(UserId::from_uuid(id))),
            "platform_user" => Some(Self::PlatformUser(PlatformUserId::from_uuid(id))),
            "api_key" => Some(Self::ApiKey(ApiKeyId::from_uuid(id))),
            _ => None,
        }
    }
}

/// A session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Identifier (the `sid` claim).
    pub id: SessionId,
    /// Platform or tenant.
    pub scope: Scope,
    /// Who signed in.
    pub subject: SessionSubject,
    /// The subject's name at sign-in (user name or key id).
    pub subject_name: String,
    /// Sign-in time.
    pub created_at: DateTime<Utc>,
    /// Absolute end of the session.
    pub expires_at: DateTime<Utc>,
    /// `jti` of the one refresh token that may be used next; `None` when the session has
    /// no refresh token.
    pub refresh_jti: Option<String>,
    /// `jti` of the token rotated away most recently (for the reuse grace).
    pub previous_refresh_jti: Option<String>,
    /// When the last rotation happened.
    pub rotated_at: Option<DateTime<Utc>>,
    /// How many rotations happened.
    pub refresh_count: i64,
    /// When the session was ended.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why it was ended (`logout`, `refresh_token_reuse`, `revoked`, …).
    pub revoked_reason: Option<String>,
}

impl Session {
    /// Whether the session still grants anything at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// Storage of sessions. Every method is scoped but [`SessionRepository::purge`], which is
/// storage upkeep across all scopes rather than anyone's operation.
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Stores a new session.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn insert(&self, session: &Session) -> Result<(), StorageError>;

    /// Finds a session.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn find(&self, scope: Scope, id: SessionId) -> Result<Option<Session>, StorageError>;

    /// Atomically replaces the current refresh `jti` with `new_jti`, only if `presented`
    /// is the current one and the session is active at `now`; returns the updated
    /// session, or `None` when the condition did not hold. Of any number of concurrent
    /// calls with the same `presented`, at most one succeeds, across processes.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn rotate(
        &self,
        scope: Scope,
        id: SessionId,
        presented: &str,
        new_jti: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StorageError>;

    /// Ends a session unless already ended; returns whether this call ended it.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn revoke(&self, scope: Scope, id: SessionId, reason: &str, now: DateTime<Utc>)
        -> Result<bool, StorageError>;

    /// As [`SessionRepository::revoke`], and stores `event` in the same transaction when
    /// this call ended the session (not when it had ended already): an administrator or
    /// the user ending one session.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn revoke_recorded(
        &self,
        scope: Scope,
        id: SessionId,
        reason: &str,
        now: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StorageError>;

    /// Ends every active session of `subject`; returns how many.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn revoke_subject(
        &self,
        scope: Scope,
        subject: SessionSubject,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StorageError>;

    /// Lists active sessions (of `subject` only, when given), newest first.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn list_active(
        &self,
        scope: Scope,
        subject: Option<SessionSubject>,
        now: DateTime<Utc>,
        page: PageRequest,
    ) -> Result<Page<Session>, StorageError>;

    /// Deletes up to `limit` sessions, in every scope, that ended before `cutoff`: those
    /// that expired (`expires_at < cutoff`) and those revoked (`revoked_at < cutoff`);
    /// returns how many it deleted. Active sessions, and sessions that ended at or after
    /// `cutoff`, are never deleted. One call is one bounded statement, short enough not to
    /// hold locks for long; callers repeat it until it deletes fewer than `limit`.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn purge(&self, cutoff: DateTime<Utc>, limit: u64) -> Result<u64, StorageError>;
}
