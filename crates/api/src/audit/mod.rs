//! Where an audited request came from ([`Origin`]: client address, user agent, request
//! id, entry point), read from the HTTP request.

mod origin;

pub use origin::Origin;
