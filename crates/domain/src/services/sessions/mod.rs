//! Sessions: opened by a sign-in, renewed by rotating their refresh token (with reuse
//! detection), and ended by sign-out, revocation or an administrator; plus the tokens
//! they hand out, and whether a session is still alive.
//!
//! - `service`: the ports, listing and finding sessions;
//! - `mint`: the tokens a session hands out; `presented`: reading one back;
//! - `open`: the session a sign-in opens; `rotation`: renewal; `end`: sign-out and revocation;
//! - `liveness`: whether a session, its tenant and its subject may still act;
//! - [`reasons`]: why a session ended, as stored;
//! - `admin`: ending a session on an administrator's (or its own user's) request.

mod admin;
mod end;
mod liveness;
mod mint;
mod open;
mod presented;
pub mod reasons;
mod rotation;
mod service;

pub use admin::SessionAdmin;
pub use end::SignOut;
pub use mint::{refresh_audience, Issued};
pub use presented::TokenError;
pub(crate) use presented::TokenKind;
pub use rotation::{Renewal, Renewed};
pub use service::{SessionPorts, SessionService};
