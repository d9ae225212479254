//! The audit trail's HTTP side: where a request came from ([`Origin`]), and the buffered
//! writer that takes sign-in events off the request path ([`BufferedAuditLog`]).

mod origin;
mod writer;

pub use origin::{entry_point_of, Origin};
pub use writer::{AuditWriter, AuditWriterHandle, BufferedAuditLog};
