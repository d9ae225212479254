//! Credential checking: the one place a password or an API key is checked, whichever entry
//! point it came through (native, Sensu, Tenovos, InvestSuite, OAuth 2.0, Basic on the
//! admin API), with the brute-force bookkeeping that goes with every check.
//!
//! - `checker`: the ports and the one entry point, [`CredentialChecker::check`];
//! - `password`: a tenant user's password (through the tenant's cluster) or an operator's;
//! - `api_key`: a tenant's or the platform's API key;
//! - `attempts`: counting failures towards a lock, and auditing them;
//! - `standing`: whether a subject that signed in may still act, and with which roles.

mod api_key;
mod attempts;
mod checker;
mod password;
mod request;
mod standing;

pub use checker::{CredentialChecker, CredentialPorts};
pub use request::{Credentials, Realm, SignInError, Verified};
pub use standing::Standing;
