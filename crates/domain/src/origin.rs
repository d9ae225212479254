//! Where a request came from: the entry point (surface) it came through, and what the HTTP
//! layer saw of the client. Every audit event and sign-in metric carries it.

use std::net::IpAddr;

/// The way in a request came through (for the audit trail and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryPoint {
    /// The native (ECE) API's sign-in routes.
    Native,
    /// Sensu Go's `/auth`.
    Sensu,
    /// Tenovos' `/auth/token`.
    Tenovos,
    /// InvestSuite's `/auth/login/`.
    InvestSuite,
    /// The OAuth 2.0 token endpoint.
    OAuth2,
    /// Credentials on an administrative request.
    Admin,
}

impl EntryPoint {
    /// The stable name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Sensu => "sensu",
            Self::Tenovos => "tenovos",
            Self::InvestSuite => "investsuite",
            Self::OAuth2 => "oauth2",
            Self::Admin => "admin",
        }
    }
}

/// Reads the stable name of an [`EntryPoint`] (see [`EntryPoint::as_str`]).
pub fn parse_entry_point(raw: &str) -> Option<EntryPoint> {
    [
        EntryPoint::Native,
        EntryPoint::Sensu,
        EntryPoint::Tenovos,
        EntryPoint::InvestSuite,
        EntryPoint::OAuth2,
        EntryPoint::Admin,
    ]
    .into_iter()
    .find(|e| e.as_str() == raw)
}

/// Longest user agent kept; longer ones are cut.
pub const MAX_USER_AGENT_CHARS: usize = 256;
/// Longest request id kept.
pub const MAX_REQUEST_ID_CHARS: usize = 64;

/// Where a request came from, as the HTTP layer saw it: built once per request and passed
/// to every audited operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// The surface the request came through.
    pub entry_point: EntryPoint,
    /// The client's address (the peer, or what a trusted proxy forwarded).
    pub client_address: Option<IpAddr>,
    /// The `User-Agent` header, cut to [`MAX_USER_AGENT_CHARS`].
    pub user_agent: Option<String>,
    /// The request's correlation id (also in the logs).
    pub request_id: Option<String>,
}

impl RequestContext {
    /// A context with only an entry point (tests, background work).
    pub fn new(entry_point: EntryPoint) -> Self {
        Self { entry_point, client_address: None, user_agent: None, request_id: None }
    }

    /// Sets the user agent, cut to [`MAX_USER_AGENT_CHARS`] characters.
    #[must_use]
    pub fn with_user_agent(mut self, agent: Option<&str>) -> Self {
        self.user_agent = agent.map(|a| a.chars().take(MAX_USER_AGENT_CHARS).collect());
        self
    }

    /// Sets the request id, cut to [`MAX_REQUEST_ID_CHARS`] characters.
    #[must_use]
    pub fn with_request_id(mut self, id: Option<&str>) -> Self {
        self.request_id = id.map(|a| a.chars().take(MAX_REQUEST_ID_CHARS).collect());
        self
    }
}
