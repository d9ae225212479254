//! Argon2id password hashing on a bounded pool: at most `threads` hashes run at once on
//! blocking threads, at most `queue` more wait; beyond that callers are told to retry
//! (`429 root.rate_limited`) instead of stalling the server.

use argon2::password_hash::{PasswordHash as Phc, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use keyplane_domain::password::{HashError, Password, PasswordHash, PasswordHasher};
use rand::rngs::OsRng;
use serde::Deserialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Argon2id cost parameters and pool bounds.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HashingSettings {
    /// Memory cost in KiB (OWASP: 19 MiB).
    pub memory_kib: u32,
    /// Passes (OWASP: 2).
    pub iterations: u32,
    /// Lanes (OWASP: 1).
    pub parallelism: u32,
    /// Hashes running at once; 0 means one per CPU core.
    pub threads: usize,
    /// Hashes allowed to wait for a thread before new ones are refused.
    pub queue: usize,
}

impl Default for HashingSettings {
    fn default() -> Self {
        Self { memory_kib: 19 * 1024, iterations: 2, parallelism: 1, threads: 0, queue: 16 }
    }
}

/// The Argon2id [`PasswordHasher`].
pub struct Argon2Hasher {
    argon: Argon2<'static>,
    running: Arc<Semaphore>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: usize,
    dummy: String,
}

impl Argon2Hasher {
    /// Builds the hasher and pre-computes the dummy hash used for unknown users.
    ///
    /// # Errors
    /// A message when the parameters are out of Argon2's range.
    pub fn new(settings: &HashingSettings) -> Result<Self, String> {
        let params = Params::new(settings.memory_kib, settings.iterations, settings.parallelism, None)
            .map_err(|e| format!("argon2 parameters: {e}"))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let threads = if settings.threads == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            settings.threads
        };
        let salt = SaltString::generate(&mut OsRng);
        let dummy = argon.hash_password(b"keyplane-dummy-password", &salt).map_err(|e| e.to_string())?.to_string();
        Ok(Self {
            argon,
            running: Arc::new(Semaphore::new(threads)),
            in_flight: Arc::new(AtomicUsize::new(0)),
            max_in_flight: threads + settings.queue,
            dummy,
        })
    }

    async fn run<R: Send + 'static>(
        &self,
        job: impl FnOnce(&Argon2<'static>) -> R + Send + 'static,
    ) -> Result<R, HashError> {
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= self.max_in_flight {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(HashError::Busy { retry_after_secs: 1 });
        }
        let _slot = InFlight(self.in_flight.clone());
        let _permit = self.running.clone().acquire_owned().await.map_err(|e| HashError::Failed(e.to_string()))?;
        let argon = self.argon.clone();
        tokio::task::spawn_blocking(move || job(&argon)).await.map_err(|e| HashError::Failed(e.to_string()))
    }
}

struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        let plain = password.expose().to_owned();
        let phc = self
            .run(move |argon| {
                let salt = SaltString::generate(&mut OsRng);
                argon.hash_password(plain.as_bytes(), &salt).map(|h| h.to_string())
            })
            .await?
            .map_err(|e| HashError::Failed(e.to_string()))?;
        Ok(PasswordHash::from_phc(phc))
    }

    async fn verify(&self, password: &Password, hash: Option<&PasswordHash>) -> Result<bool, HashError> {
        let plain = password.expose().to_owned();
        let known = hash.is_some();
        let phc = hash.map_or_else(|| self.dummy.clone(), |h| h.as_phc().to_owned());
        let ok = self
            .run(move |argon| {
                let parsed = Phc::new(&phc).map_err(|e| e.to_string())?;
                Ok::<bool, String>(argon.verify_password(plain.as_bytes(), &parsed).is_ok())
            })
            .await?
            .map_err(HashError::Failed)?;
        Ok(known && ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> HashingSettings {
        HashingSettings { memory_kib: 1024, iterations: 1, parallelism: 1, threads: 1, queue: 0 }
    }

    #[tokio::test]
    async fn hashes_verify_and_unknown_users_fail() {
        let h = Argon2Hasher::new(&fast()).unwrap();
        let pw = Password::presented("correct horse".into());
        let hash = h.hash(&pw).await.unwrap();
        assert!(hash.as_phc().starts_with("$argon2id$"));
        assert!(h.verify(&pw, Some(&hash)).await.unwrap());
        assert!(!h.verify(&Password::presented("wrong".into()), Some(&hash)).await.unwrap());
        assert!(!h.verify(&pw, None).await.unwrap());
    }

    #[tokio::test]
    async fn a_full_pool_refuses_instead_of_queueing() {
        let h =
            Arc::new(Argon2Hasher::new(&HashingSettings { memory_kib: 8 * 1024, iterations: 3, ..fast() }).unwrap());
        let pw = Password::presented("correct horse".into());
        let results = futures_util::future::join_all((0..6).map(|_| {
            let h = h.clone();
            let pw = pw.clone();
            async move { h.hash(&pw).await }
        }))
        .await;
        let busy = results.iter().filter(|r| matches!(r, Err(HashError::Busy { .. }))).count();
        assert!(busy >= 1, "one thread, no queue: concurrent hashes beyond the first must be refused");
        assert!(results.iter().any(Result::is_ok));
    }
}
