//! Keyplane's outbound adapters: the implementations of the domain's ports that talk to
//! something outside the process or do heavy computation — token signing and sealing
//! ([`jwt`], [`master_key`]), password hashing on a fair pool ([`hashing`]), and the
//! buffered audit writer ([`audit_writer`]). No HTTP here: the api crate wires them in.
#![forbid(unsafe_code)]

pub mod audit_writer;
pub mod hashing;
pub mod jwt;
pub mod master_key;

pub use audit_writer::{AuditWriter, AuditWriterHandle, BufferedAuditLog};
pub use hashing::{Argon2Hasher, HashingSettings};
pub use jwt::JwtCodec;
pub use master_key::MasterKey;
