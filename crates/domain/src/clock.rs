//! Time as a port, so that expiry can be tested without sleeping.

use chrono::{DateTime, SubsecRound, Utc};
use std::sync::Arc;

/// Where services read the current time from.
pub trait Clock: Send + Sync {
    /// The current instant, truncated to microseconds (what every database stores).
    fn now(&self) -> DateTime<Utc>;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

/// Shared handle to a clock.
pub type SharedClock = Arc<dyn Clock>;
