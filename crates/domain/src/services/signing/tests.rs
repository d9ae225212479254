//! Key management against in-memory storage and a clock the tests move.

use super::*;
use crate::ids::TenantId;
use crate::testing::{InMemorySigningKeys, KidOnlyCodec, ManualClock};

const ALG: SigningAlgorithm = SigningAlgorithm::EdDsa;

struct Fixture {
    repo: Arc<InMemorySigningKeys>,
    clock: Arc<ManualClock>,
}

impl Fixture {
    fn new() -> Self {
        Self { repo: Arc::default(), clock: Arc::default() }
    }

    /// A replica: its own caches over the shared store and clock.
    fn replica(&self) -> SigningKeys {
        SigningKeys::new(self.repo.clone(), Arc::new(KidOnlyCodec), self.clock.clone())
    }
}

fn tenant() -> Scope {
    Scope::Tenant(TenantId::generate())
}

#[tokio::test]
async fn a_retired_key_verifies_until_its_retention_ends_and_then_never() {
    let f = Fixture::new();
    let keys = f.replica();
    let scope = tenant();
    let old = keys.active(scope, ALG).await.unwrap();
    let new = keys.rotate(scope, ALG, Duration::hours(1), &crate::testing::by_nobody()).await.unwrap();

    assert_eq!(keys.by_kid(&old.kid).await.unwrap().map(|k| k.kid.clone()), Some(old.kid.clone()));
    f.clock.advance(Duration::minutes(59));
    assert!(keys.by_kid(&old.kid).await.unwrap().is_some(), "still retained");
    f.clock.advance(Duration::minutes(1));
    assert_eq!(keys.by_kid(&old.kid).await.unwrap(), None, "retention over");
    assert_eq!(keys.by_kid(&new.kid).await.unwrap().map(|k| k.kid.clone()), Some(new.kid.clone()));
    let published: Vec<String> = keys.published(scope).await.unwrap().iter().map(|k| k.kid.clone()).collect();
    assert_eq!(published, vec![new.kid]);
}

#[tokio::test]
async fn a_replica_that_cached_a_key_as_active_learns_of_its_retirement() {
    let f = Fixture::new();
    let (here, there) = (f.replica(), f.replica());
    let scope = tenant();
    let old = here.active(scope, ALG).await.unwrap();
    assert!(here.by_kid(&old.kid).await.unwrap().is_some());

    there.rotate(scope, ALG, Duration::hours(1), &crate::testing::by_nobody()).await.unwrap();
    f.clock.advance(Duration::hours(1));

    assert_eq!(here.by_kid(&old.kid).await.unwrap(), None);
}

#[tokio::test]
async fn an_unknown_kid_is_none() {
    let keys = Fixture::new().replica();
    assert_eq!(keys.by_kid("no-such-kid").await.unwrap(), None);
}

#[tokio::test]
async fn the_kid_cache_is_bounded() {
    let keys = Fixture::new().replica();
    for _ in 0..KID_CAPACITY + 100 {
        keys.active(tenant(), ALG).await.unwrap();
    }
    keys.by_kid.run_pending_tasks();
    assert!(keys.by_kid.entry_count() <= KID_CAPACITY, "{} entries", keys.by_kid.entry_count());
}

#[tokio::test]
async fn concurrent_first_requests_of_a_scope_all_sign_with_one_key() {
    let f = Fixture::new();
    let replicas: Vec<Arc<SigningKeys>> = (0..4).map(|_| Arc::new(f.replica())).collect();
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let keys = replicas[i % replicas.len()].clone();
            tokio::spawn(async move { keys.active(Scope::Platform, ALG).await.unwrap().kid.clone() })
        })
        .collect();
    let mut kids = Vec::new();
    for task in tasks {
        kids.push(task.await.unwrap());
    }
    let stored = f.repo.all(Scope::Platform);
    assert_eq!(stored.len(), 1);
    assert!(kids.iter().all(|kid| *kid == stored[0].kid), "{kids:?}");
}

#[tokio::test]
async fn rotation_leaves_one_active_key_which_signs_from_then_on() {
    let f = Fixture::new();
    let keys = f.replica();
    let scope = tenant();
    let first = keys.active(scope, ALG).await.unwrap();
    let second = keys.rotate(scope, ALG, Duration::hours(1), &crate::testing::by_nobody()).await.unwrap();
    let third =
        keys.rotate(scope, SigningAlgorithm::Es256, Duration::hours(2), &crate::testing::by_nobody()).await.unwrap();

    let active: Vec<String> = f.repo.all(scope).into_iter().filter(|k| k.retired_at.is_none()).map(|k| k.kid).collect();
    assert_eq!(active, vec![third.kid.clone()]);
    assert_eq!(keys.active(scope, ALG).await.unwrap().kid, third.kid);
    assert_eq!(third.algorithm, SigningAlgorithm::Es256);
    f.clock.advance(Duration::minutes(90));
    assert_eq!(keys.by_kid(&first.kid).await.unwrap(), None);
    assert_eq!(keys.by_kid(&second.kid).await.unwrap().map(|k| k.kid.clone()), Some(second.kid));
}
