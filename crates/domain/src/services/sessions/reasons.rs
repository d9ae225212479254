//! Why sessions end: the stable `revoked_reason`s stored on a session, in one place for
//! every service that ends sessions (sign-out, reuse detection, user, operator and key
//! administration, the bootstrap CLI). An administrator ending one session names its own.

/// The session's user signed out (or revoked one of its tokens, or ended it from their
/// session list).
pub const LOGOUT: &str = "logout";
/// An administrator ended the session from the user's session list.
pub const REVOKED: &str = "revoked";
/// A rotated refresh token was presented again.
pub const REFRESH_TOKEN_REUSE: &str = "refresh_token_reuse";
/// Why sessions ended when their user was disabled.
pub const USER_DISABLED: &str = "user_disabled";
/// Why sessions ended when their user was deleted.
pub const USER_DELETED: &str = "user_deleted";
/// Why sessions ended when their user's password changed.
pub const PASSWORD_CHANGED: &str = "password_changed";
/// Why sessions ended when an operator's password was reset from the command line.
pub const PASSWORD_RESET: &str = "password_reset";
/// Why sessions opened with an API key ended when the key was revoked.
pub const KEY_REVOKED: &str = "key_revoked";
