//! Argon2id password hashing on a bounded pool: `threads` dedicated OS threads (one per
//! core by default) take jobs from a queue shared fairly between tenants: each tenant
//! (and the platform) has a lane of `queue` places, lanes are served in turn, and all of
//! them together hold at most `4 × queue`. A hash that finds its lane full waits (without
//! using the CPU) up to `max_wait_ms` for a place, and is then told to retry
//! (`429 root.rate_limited`) instead of stalling the server; a flood at one tenant leaves
//! the others' sign-ins served. Dedicated threads also bound memory: each keeps at
//! most one Argon2 working area.

mod fair_queue;

use fair_queue::FairQueue;
use keyplane_domain::scope::Scope;

use argon2::password_hash::{Output, PasswordHash as Phc, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use async_trait::async_trait;
use keyplane_domain::password::{HashError, Password, PasswordHash, PasswordHasher};
use rand::rngs::OsRng;
use serde::Deserialize;
use std::sync::Arc;

/// Argon2id cost parameters and pool bounds.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
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
    /// Hashes allowed to wait for a thread before new ones are refused; 0 sizes the queue
    /// so that no request waits more than about 100 ms (from the measured hash time).
    pub queue: usize,
    /// How long a hash may wait for a place in its tenant's full lane before it is
    /// refused, in milliseconds (at most 60000); 0 refuses at once. At most 256 hashes
    /// wait per lane; more are refused at once.
    pub max_wait_ms: u64,
}

impl Default for HashingSettings {
    fn default() -> Self {
        Self { memory_kib: 19 * 1024, iterations: 2, parallelism: 1, threads: 0, queue: 0, max_wait_ms: 1000 }
    }
}

/// Times `iterations` single Argon2id hashes with `settings`' cost parameters, one after
/// another on the calling thread, and returns each duration in milliseconds, sorted (for
/// `keyplane hash-benchmark`, which reports the median and the machine's ceiling).
///
/// # Errors
/// A message when the parameters are out of Argon2's range.
pub fn benchmark(settings: &HashingSettings, iterations: usize) -> Result<Vec<f64>, String> {
    let params = Params::new(settings.memory_kib, settings.iterations, settings.parallelism, None)
        .map_err(|e| format!("argon2 parameters: {e}"))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut times: Vec<f64> = (0..iterations.max(1))
        .map(|_| {
            let salt = SaltString::generate(&mut OsRng);
            let started = std::time::Instant::now();
            let _ = argon.hash_password(b"benchmark password", &salt);
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    Ok(times)
}

/// A job runs on a hashing thread with that thread's Argon2 working area, which is
/// allocated once and reused: no 19 MiB allocation and page-faulting per hash, and the
/// pool's memory is bounded by threads × memory cost.
type Job = Box<dyn FnOnce(&Argon2<'static>, &mut Vec<Block>) + Send>;

/// The Argon2id [`PasswordHasher`].
pub struct Argon2Hasher {
    jobs: Arc<FairQueue<Job>>,
    threads: usize,
    queue: usize,
    max_wait: std::time::Duration,
    hash_time: std::time::Duration,
    dummy: String,
}

impl Argon2Hasher {
    /// Builds the hasher, starts its threads and pre-computes the dummy hash used for
    /// unknown users (timing it, to size the queue).
    ///
    /// # Errors
    /// A message when the parameters are out of Argon2's range or a thread cannot start.
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
        // Size the queue from a warm hash (the first one pays for page faults).
        let mut memory = vec![Block::default(); argon.params().block_count()];
        let hash_time = (0..2)
            .map(|_| {
                let started = std::time::Instant::now();
                let _ = hash_phc(&argon, &mut memory, b"keyplane-timing");
                started.elapsed()
            })
            .min()
            .unwrap_or_default();
        drop(memory);
        let queue = if settings.queue == 0 { queue_for(threads, hash_time) } else { settings.queue };
        let jobs = Arc::new(FairQueue::<Job>::new(queue, queue.saturating_mul(4)));
        for n in 0..threads {
            let jobs = jobs.clone();
            let argon = argon.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    let mut memory = vec![Block::default(); argon.params().block_count()];
                    loop {
                        let job = jobs.pop();
                        job(&argon, &mut memory);
                    }
                })
                .map_err(|e| format!("starting a hashing thread: {e}"))?;
        }
        // Bounded, so that a deadline never overflows (and a wait never outlasts a client).
        let max_wait = std::time::Duration::from_millis(settings.max_wait_ms.min(60_000));
        Ok(Self { jobs, threads, queue, max_wait, hash_time, dummy })
    }

    /// How long one hash took when the hasher was built.
    pub fn hash_time(&self) -> std::time::Duration {
        self.hash_time
    }

    /// Hashes that run at once.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Hashes that may wait for a thread, per lane.
    pub fn queue(&self) -> usize {
        self.queue
    }

    /// Hashes waiting for a thread now, all lanes together.
    pub fn queued(&self) -> usize {
        self.jobs.queued()
    }

    async fn run<R: Send + 'static>(
        &self,
        lane: Scope,
        job: impl FnOnce(&Argon2<'static>, &mut Vec<Block>) -> R + Send + 'static,
    ) -> Result<R, HashError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let queued_at = std::time::Instant::now();
        let job: Job = Box::new(move |argon, memory| {
            metrics::histogram!("keyplane_hashing_wait_seconds").record(queued_at.elapsed().as_secs_f64());
            let started = std::time::Instant::now();
            let result = job(argon, memory);
            metrics::histogram!("keyplane_hashing_duration_seconds").record(started.elapsed().as_secs_f64());
            let _ = reply.send(result);
        });
        let deadline = tokio::time::Instant::now() + self.max_wait;
        if self.jobs.push_within(lane, job, deadline).await.is_err() {
            metrics::counter!("keyplane_hashing_rejected_total").increment(1);
            return Err(HashError::Busy { retry_after_secs: 1 });
        }
        answer.await.map_err(|_| HashError::Failed("a hashing thread failed".into()))
    }
}

/// A queue that drains within about 100 ms: each thread finishes `100 ms / hash time`
/// hashes in that time.
fn queue_for(threads: usize, hash_time: std::time::Duration) -> usize {
    let per_thread = (100.0 / (hash_time.as_secs_f64() * 1000.0).max(1.0)).floor() as usize;
    (threads * per_thread).max(1)
}

/// Hashes `password` with a fresh salt into a PHC string, in `memory`.
fn hash_phc(argon: &Argon2<'static>, memory: &mut [Block], password: &[u8]) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    let mut out = [0u8; 32];
    let mut raw_salt = [0u8; 64];
    let raw_salt = salt.decode_b64(&mut raw_salt).map_err(|e| e.to_string())?;
    argon.hash_password_into_with_memory(password, raw_salt, &mut out, memory).map_err(|e| e.to_string())?;
    let phc = Phc {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: argon.params().try_into().map_err(|e: argon2::password_hash::Error| e.to_string())?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
    };
    Ok(phc.to_string())
}

/// Checks `password` against a PHC string (with the parameters it records), in `memory`
/// when it is large enough. The comparison of outputs is constant-time.
fn verify_phc(memory: &mut [Block], password: &[u8], phc: &str) -> Result<bool, String> {
    let parsed = Phc::new(phc).map_err(|e| e.to_string())?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|e| e.to_string())?;
    let version =
        parsed.version.map(Version::try_from).transpose().map_err(|e| e.to_string())?.unwrap_or(Version::V0x13);
    let params = Params::try_from(&parsed).map_err(|e| e.to_string())?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err("the stored hash has no salt or output".into());
    };
    let mut raw_salt = [0u8; 64];
    let raw_salt = salt.decode_b64(&mut raw_salt).map_err(|e| e.to_string())?;
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params.clone());
    if memory.len() >= params.block_count() {
        argon.hash_password_into_with_memory(password, raw_salt, &mut out, &mut memory[..params.block_count()])
    } else {
        argon.hash_password_into(password, raw_salt, &mut out)
    }
    .map_err(|e| e.to_string())?;
    let computed = Output::new(&out).map_err(|e| e.to_string())?;
    Ok(computed == expected)
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, lane: Scope, password: &Password) -> Result<PasswordHash, HashError> {
        let plain = password.expose().to_owned();
        let phc = self
            .run(lane, move |argon, memory| hash_phc(argon, memory, plain.as_bytes()))
            .await?
            .map_err(HashError::Failed)?;
        Ok(PasswordHash::from_phc(phc))
    }

    async fn verify(&self, lane: Scope, password: &Password, hash: Option<&PasswordHash>) -> Result<bool, HashError> {
        let plain = password.expose().to_owned();
        let known = hash.is_some();
        let phc = hash.map_or_else(|| self.dummy.clone(), |h| h.as_phc().to_owned());
        let ok = self
            .run(lane, move |_, memory| verify_phc(memory, plain.as_bytes(), &phc))
            .await?
            .map_err(HashError::Failed)?;
        Ok(known && ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> HashingSettings {
        HashingSettings { memory_kib: 1024, iterations: 1, parallelism: 1, threads: 1, queue: 1, max_wait_ms: 0 }
    }

    #[test]
    fn the_automatic_queue_drains_in_about_100_ms() {
        assert_eq!(queue_for(2, std::time::Duration::from_millis(20)), 10);
        assert_eq!(queue_for(4, std::time::Duration::from_millis(50)), 8);
        assert_eq!(queue_for(2, std::time::Duration::from_millis(400)), 1);
    }

    #[test]
    fn hashes_are_standard_phc_strings_that_the_argon2_crate_verifies() {
        use argon2::password_hash::PasswordVerifier;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(1024, 1, 1, None).unwrap());
        let mut memory = vec![Block::default(); argon.params().block_count()];
        let phc = hash_phc(&argon, &mut memory, b"correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        let parsed = Phc::new(&phc).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse", &parsed).is_ok());
        assert!(verify_phc(&mut memory, b"correct horse", &phc).unwrap());
        assert!(!verify_phc(&mut memory, b"wrong", &phc).unwrap());
        // A hash made elsewhere, with other parameters, verifies too.
        let salt = SaltString::generate(&mut OsRng);
        let foreign = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(2048, 2, 1, None).unwrap())
            .hash_password(b"pw", &salt)
            .unwrap()
            .to_string();
        assert!(verify_phc(&mut memory, b"pw", &foreign).unwrap());
        assert!(verify_phc(&mut memory, b"pw", "not-a-phc").is_err());
    }

    #[tokio::test]
    async fn hashes_verify_and_unknown_users_fail() {
        let h = Argon2Hasher::new(&fast()).unwrap();
        let pw = Password::presented("correct horse".into());
        let hash = h.hash(Scope::Platform, &pw).await.unwrap();
        assert!(hash.as_phc().starts_with("$argon2id$"));
        assert!(h.verify(Scope::Platform, &pw, Some(&hash)).await.unwrap());
        assert!(!h.verify(Scope::Platform, &Password::presented("wrong".into()), Some(&hash)).await.unwrap());
        assert!(!h.verify(Scope::Platform, &pw, None).await.unwrap());
    }

    #[tokio::test]
    async fn a_full_pool_refuses_instead_of_queueing() {
        let h =
            Arc::new(Argon2Hasher::new(&HashingSettings { memory_kib: 8 * 1024, iterations: 3, ..fast() }).unwrap());
        let pw = Password::presented("correct horse".into());
        let results = futures_util::future::join_all((0..6).map(|_| {
            let h = h.clone();
            let pw = pw.clone();
            async move { h.hash(Scope::Platform, &pw).await }
        }))
        .await;
        let busy = results.iter().filter(|r| matches!(r, Err(HashError::Busy { .. }))).count();
        assert!(busy >= 1, "one thread, no queue: concurrent hashes beyond the first must be refused");
        assert!(results.iter().any(Result::is_ok));
    }
}
