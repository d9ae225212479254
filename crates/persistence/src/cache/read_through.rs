//! The machinery every cache shares: bounded entries that expire after a TTL, and reads
//! through to the store in which concurrent misses of one entry share a single load.

use keyplane_domain::error::StorageError;
use moka::future::Cache;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How many entries each cache holds at most.
const CAPACITY: u64 = 100_000;

/// Reads through `cache` (named `name` in the metrics): one `load` for all concurrent
/// misses of `key`. Counts `keyplane_cache_requests_total{cache, result="hit"|"miss"}`.
pub(super) async fn through<K, V>(
    name: &'static str,
    cache: &Cache<K, V>,
    key: K,
    load: impl Future<Output = Result<V, StorageError>>,
) -> Result<V, StorageError>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let missed = std::sync::atomic::AtomicBool::new(false);
    let load = async {
        missed.store(true, std::sync::atomic::Ordering::Relaxed);
        load.await
    };
    let found = cache.try_get_with(key, load).await.map_err(|e: Arc<StorageError>| StorageError::new(e.to_string()));
    let result = if missed.load(std::sync::atomic::Ordering::Relaxed) { "miss" } else { "hit" };
    metrics::counter!("keyplane_cache_requests_total", "cache" => name, "result" => result).increment(1);
    found
}

/// An empty cache of at most [`CAPACITY`] entries, each kept for `ttl`.
pub(super) fn cache<K, V>(ttl: Duration) -> Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    Cache::builder().max_capacity(CAPACITY).time_to_live(ttl).build()
}
