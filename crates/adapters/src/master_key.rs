//! The operator's master key: read from configuration or from a key file in the data
//! directory (created, readable by its owner only, on first start). It seals signing keys.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::path::Path;

/// The operator's 256-bit master key.
pub struct MasterKey(pub(crate) [u8; 32]);

impl MasterKey {
    /// Parses a base64-encoded 32-byte key.
    ///
    /// # Errors
    /// A message when it is not base64 of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| "the master key must be base64".to_owned())?;
        <[u8; 32]>::try_from(bytes.as_slice())
            .map(Self)
            .map_err(|_| "the master key must be 32 bytes (base64 of 32 random bytes)".to_owned())
    }

    /// Reads `path`, or creates it with a fresh random key (readable by the owner only).
    ///
    /// # Errors
    /// I/O or format errors, as messages.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), String> {
        if path.exists() {
            let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
            return Self::from_base64(&text).map(|k| (k, false));
        }
        let mut bytes = [0u8; 32];
        SystemRandom::new().fill(&mut bytes).map_err(|_| "no randomness".to_owned())?;
        write_private(path, &STANDARD.encode(bytes)).map_err(|e| format!("writing {}: {e}", path.display()))?;
        Ok((Self(bytes), true))
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}
