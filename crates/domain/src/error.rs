//! Errors shared by every port: storage failures that no caller can fix, and field-level
//! validation failures raised while parsing input.

use std::fmt;

/// An unexpected failure of a backend (database down, corrupt row, …). Callers surface it
/// as an internal error; its text is logged, never shown to a client.
#[derive(Debug, thiserror::Error)]
#[error("storage failure: {0}")]
pub struct StorageError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

impl StorageError {
    /// Wraps any error as a storage failure.
    pub fn new(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(err.into())
    }
}

/// A value that failed validation: which field, and why (safe to show to the client; it
/// never repeats the rejected value, which may be a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Invalid {
    /// The request field, as the client named it (`user_name`, `metadata`, …).
    pub field: &'static str,
    /// A human-readable reason.
    pub reason: String,
}

impl Invalid {
    /// Builds a validation failure for `field`.
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self { field, reason: reason.into() }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}
