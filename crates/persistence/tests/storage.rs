//! The repositories against real SQLite and PostgreSQL (a fresh database per test; the
//! PostgreSQL half is skipped when the server is unreachable, unless
//! `KEYPLANE_TEST_REQUIRE_POSTGRES=1`): session purging, and one active signing key per
//! scope whatever the concurrency, audit events committed with their changes, and the
//! audit trail's filters and tenant scoping.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use keyplane_domain::audit::{Actor, ActorKind, AuditEvent, AuditFilter, AuditLog, AuditScope, Outcome};
use keyplane_domain::ids::{PlatformUserId, SessionId, SigningKeyId, TenantId};
use keyplane_domain::lockout::{BruteForcePolicy, Counter, LockoutRepository, LockoutSubject, Reservation};
use keyplane_domain::origin::EntryPoint;
use keyplane_domain::origin::RequestContext;
use keyplane_domain::page::PageRequest;
use keyplane_domain::policy::{ClusterKind, SigningAlgorithm, TokenPolicy};
use keyplane_domain::scope::Scope;
use keyplane_domain::session::{Session, SessionRepository, SessionSubject};
use keyplane_domain::tenant::{InsertTenantError, Tenant, TenantName, TenantRepository, TenantSlug, TenantStatus};
use keyplane_domain::token::{SigningKey, SigningKeyRepository};
use keyplane_migrations::{Migrator, MigratorTrait};
use keyplane_persistence::entities::{sessions, signing_keys};
use keyplane_persistence::{Database, SqlAuditLog, SqlLockout, SqlSessions, SqlSigningKeys, SqlTenants};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};
use std::collections::HashSet;
use std::sync::Arc;

/// A fresh, migrated database; dropped (PostgreSQL) or deleted (SQLite) at the end.
struct Fresh {
    db: Database,
    cleanup: Option<Box<dyn FnOnce() + Send>>,
}

impl Drop for Fresh {
    fn drop(&mut self) {
        if let Some(cleanup) = self.cleanup.take() {
            cleanup();
        }
    }
}

fn suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

async fn sqlite() -> Fresh {
    let fresh = sqlite_unmigrated().await;
    keyplane_persistence::migrate(&fresh.db).await.unwrap();
    fresh
}

async fn sqlite_unmigrated() -> Fresh {
    let path = std::env::temp_dir().join(format!("keyplane-persistence-{}.db", suffix()));
    let db = keyplane_persistence::connect(&format!("sqlite://{}?mode=rwc", path.display()), 8).await.unwrap();
    let cleanup = move || {
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
        }
    };
    Fresh { db, cleanup: Some(Box::new(cleanup)) }
}

async fn postgres_unmigrated() -> Option<Fresh> {
    let admin_url = std::env::var("KEYPLANE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let required = std::env::var("KEYPLANE_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1" || v == "true");
    // Within about a second: an unreachable server is not waited out for 30 s per test.
    let quick = sea_orm::ConnectOptions::new(admin_url.as_str())
        .connect_timeout(std::time::Duration::from_secs(1))
        .acquire_timeout(std::time::Duration::from_secs(1))
        .to_owned();
    let admin = match sea_orm::Database::connect(quick).await {
        Ok(admin) => admin,
        Err(e) if required => panic!("PostgreSQL is required but unreachable at {admin_url}: {e}"),
        Err(e) => {
            use std::io::Write as _;
            // Straight to stderr, past the test harness's capture: the skip is seen.
            let _ = writeln!(std::io::stderr(), "NOTE: PostgreSQL unreachable at {admin_url} ({e}): SKIPPED");
            return None;
        }
    };
    let secs = Utc::now().timestamp();
    let name = format!("kp_test_{secs}_{}", suffix());
    admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.unwrap();
    let (prefix, _) = admin_url.rsplit_once('/').unwrap();
    let db = keyplane_persistence::connect(&format!("{prefix}/{name}"), 16).await.unwrap();
    let cleanup = move || {
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(admin) = sea_orm::Database::connect(admin_url.as_str()).await {
                    let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
                }
            });
        })
        .join();
    };
    Some(Fresh { db, cleanup: Some(Box::new(cleanup)) })
}

async fn postgres() -> Option<Fresh> {
    let fresh = postgres_unmigrated().await?;
    keyplane_persistence::migrate(&fresh.db).await.unwrap();
    Some(fresh)
}

/// Runs a scenario on SQLite and on PostgreSQL.
macro_rules! on_both {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$scenario(super::sqlite().await.db.clone()).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(fresh) = super::postgres().await {
                        super::$scenario(fresh.db.clone()).await;
                    }
                }
            }
        )*
    };
}

on_both!(
    an_audited_change_commits_with_its_event_or_not_at_all,
    the_audit_trail_filters_within_its_scope,
    purge_deletes_ended_sessions_past_the_cutoff_in_bounded_batches,
    one_active_key_per_scope_under_concurrent_first_inserts,
    rotation_retires_before_it_inserts_even_when_concurrent,
    a_tenant_and_its_first_key_are_stored_together_or_not_at_all,
    concurrent_attempts_are_reserved_up_to_the_limit_and_no_further,
);

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn session(created: DateTime<Utc>, expires: DateTime<Utc>, revoked: Option<DateTime<Utc>>) -> Session {
    Session {
        id: SessionId::generate(),
        scope: Scope::Platform,
        subject: SessionSubject::PlatformUser(PlatformUserId::generate()),
        subject_name: "admin".into(),
        created_at: created,
        expires_at: expires,
        refresh_jti: Some("jti".into()),
        previous_refresh_jti: None,
        rotated_at: None,
        refresh_count: 0,
        revoked_at: revoked,
        revoked_reason: revoked.map(|_| "logout".into()),
    }
}

async fn session_ids(db: &Database) -> HashSet<uuid::Uuid> {
    sessions::Entity::find().all(db).await.unwrap().into_iter().map(|row| row.id).collect()
}

async fn purge_deletes_ended_sessions_past_the_cutoff_in_bounded_batches(db: Database) {
    let repo = SqlSessions::new(db.clone());
    let now = now();
    let (day, month) = (Duration::days(1), Duration::days(30));
    let active = session(now - day, now + month, None);
    let revoked_long_ago = session(now - month, now + month, Some(now - day * 8));
    let expired_long_ago = session(now - month, now - day * 8, None);
    let revoked_lately = session(now - month, now + month, Some(now - day * 6));
    let expired_lately = session(now - month, now - day * 6, None);
    let more_expired: Vec<Session> = (0..3).map(|_| session(now - month, now - day * 10, None)).collect();
    let all = [&active, &revoked_long_ago, &expired_long_ago, &revoked_lately, &expired_lately];
    for s in all.into_iter().chain(&more_expired) {
        repo.insert(s).await.unwrap();
    }

    let cutoff = now - day * 7;
    assert_eq!(repo.purge(cutoff, 2).await.unwrap(), 2, "a batch stops at its limit");
    assert_eq!(repo.purge(cutoff, 2).await.unwrap(), 2);
    assert_eq!(repo.purge(cutoff, 2).await.unwrap(), 1, "a short batch: nothing more to purge");
    assert_eq!(repo.purge(cutoff, 2).await.unwrap(), 0);

    let kept: HashSet<uuid::Uuid> =
        [&active, &revoked_lately, &expired_lately].iter().map(|s| s.id.as_uuid()).collect();
    assert_eq!(session_ids(&db).await, kept);
    assert_eq!(repo.find(Scope::Platform, active.id).await.unwrap(), Some(active.clone()));
}

fn key(scope: Scope, at: DateTime<Utc>) -> SigningKey {
    let id = SigningKeyId::generate();
    SigningKey {
        id,
        scope,
        kid: id.to_string(),
        algorithm: SigningAlgorithm::EdDsa,
        public_jwk: serde_json::json!({"kid": id.to_string()}),
        sealed_private: vec![1, 2, 3],
        created_at: at,
        retired_at: None,
        retain_until: None,
    }
}

fn tenant(slug: &str) -> Tenant {
    let now = now();
    Tenant {
        id: TenantId::generate(),
        slug: TenantSlug::parse(slug).unwrap(),
        name: TenantName::parse(slug).unwrap(),
        status: TenantStatus::Active,
        policy: TokenPolicy::default(),
        cluster: Some(ClusterKind::Native),
        created_at: now,
        updated_at: now,
    }
}

/// Active keys of `scope`, counted in the table itself.
async fn active_count(db: &Database, scope: Scope) -> u64 {
    let tenant = match scope.tenant() {
        Some(t) => signing_keys::Column::TenantId.eq(t.as_uuid()),
        None => signing_keys::Column::TenantId.is_null(),
    };
    signing_keys::Entity::find()
        .filter(tenant)
        .filter(signing_keys::Column::RetiredAt.is_null())
        .count(db)
        .await
        .unwrap()
}

async fn one_active_key_per_scope_under_concurrent_first_inserts(db: Database) {
    let repo = Arc::new(SqlSigningKeys::new(db.clone()));
    let acme = tenant("acme");
    let first = key(Scope::Tenant(acme.id), now());
    SqlTenants::new(db.clone()).insert(&acme, &first, &event(Some(acme.id), "tenant.created")).await.unwrap();

    for scope in [Scope::Platform, Scope::Tenant(acme.id)] {
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let repo = repo.clone();
                tokio::spawn(async move { repo.insert_if_absent(&key(scope, now())).await.unwrap().kid })
            })
            .collect();
        let mut winners = HashSet::new();
        for task in tasks {
            winners.insert(task.await.unwrap());
        }
        assert_eq!(winners.len(), 1, "every caller gets the one winner: {winners:?}");
        assert_eq!(active_count(&db, scope).await, 1);
        assert_eq!(repo.active(scope).await.unwrap().unwrap().kid, *winners.iter().next().unwrap());
    }
    assert_eq!(repo.active(Scope::Tenant(acme.id)).await.unwrap().unwrap().kid, first.kid, "the tenant's own key won");
}

async fn rotation_retires_before_it_inserts_even_when_concurrent(db: Database) {
    let repo = Arc::new(SqlSigningKeys::new(db.clone()));
    let start = now();
    let first = repo.insert_if_absent(&key(Scope::Platform, start)).await.unwrap();
    let second = key(Scope::Platform, start + Duration::seconds(1));
    let retain_until = start + Duration::hours(12);
    repo.rotate(&second, retain_until, &event(None, "signing_key.rotated")).await.unwrap();

    let old = repo.find_by_kid(&first.kid).await.unwrap().unwrap();
    assert_eq!((old.retired_at, old.retain_until), (Some(second.created_at), Some(retain_until)));
    assert_eq!(repo.active(Scope::Platform).await.unwrap().unwrap().kid, second.kid);

    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let repo = repo.clone();
            let next = key(Scope::Platform, start + Duration::seconds(2 + i));
            tokio::spawn(async move { repo.rotate(&next, retain_until, &event(None, "signing_key.rotated")).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().expect("a concurrent rotation succeeds");
    }
    assert_eq!(active_count(&db, Scope::Platform).await, 1);
    assert_eq!(repo.published(Scope::Platform, start).await.unwrap().len(), 6, "every retired key is retained");
}

async fn a_tenant_and_its_first_key_are_stored_together_or_not_at_all(db: Database) {
    let tenants = SqlTenants::new(db.clone());
    let keys = SqlSigningKeys::new(db.clone());
    let acme = tenant("acme");
    let acme_key = key(Scope::Tenant(acme.id), now());
    tenants.insert(&acme, &acme_key, &event(Some(acme.id), "tenant.created")).await.unwrap();
    assert_eq!(keys.active(Scope::Tenant(acme.id)).await.unwrap(), Some(acme_key));

    let clash = tenant("acme");
    let clash_key = key(Scope::Tenant(clash.id), now());
    assert!(matches!(
        tenants.insert(&clash, &clash_key, &event(Some(clash.id), "tenant.created")).await,
        Err(InsertTenantError::SlugTaken)
    ));
    assert_eq!(keys.find_by_kid(&clash_key.kid).await.unwrap(), None, "no key without its tenant");
}

/// A database from before the one-active-key rule with duplicate active keys: migrating
/// keeps the newest per scope active and retires the others with a retention.
async fn migrating_retires_duplicate_active_keys(fresh: Fresh) {
    let db = fresh.db.clone();
    Migrator::up(&db, Some(6)).await.unwrap();
    let start = now();
    let keys: Vec<SigningKey> = (0..3).map(|i| key(Scope::Platform, start + Duration::seconds(i))).collect();
    for k in &keys {
        let row = signing_keys::ActiveModel {
            id: Set(k.id.as_uuid()),
            tenant_id: Set(None),
            kid: Set(k.kid.clone()),
            algorithm: Set(k.algorithm.as_str().to_owned()),
            public_jwk: Set(k.public_jwk.clone()),
            sealed_private: Set(k.sealed_private.clone()),
            created_at: Set(k.created_at),
            retired_at: Set(None),
            retain_until: Set(None),
        };
        signing_keys::Entity::insert(row).exec_without_returning(&db).await.unwrap();
    }
    keyplane_persistence::migrate(&db).await.unwrap();

    let repo = SqlSigningKeys::new(db.clone());
    assert_eq!(repo.active(Scope::Platform).await.unwrap().unwrap().kid, keys[2].kid, "the newest stays active");
    for old in &keys[..2] {
        let old = repo.find_by_kid(&old.kid).await.unwrap().unwrap();
        let (retired, until) = (old.retired_at.unwrap(), old.retain_until.unwrap());
        assert_eq!(until - retired, Duration::hours(12), "retained as long as a platform token lives");
    }
    assert_eq!(active_count(&db, Scope::Platform).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrating_retires_duplicate_active_keys_sqlite() {
    migrating_retires_duplicate_active_keys(sqlite_unmigrated().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrating_retires_duplicate_active_keys_postgres() {
    if let Some(fresh) = postgres_unmigrated().await {
        migrating_retires_duplicate_active_keys(fresh).await;
    }
}

async fn concurrent_attempts_are_reserved_up_to_the_limit_and_no_further(db: Database) {
    let repo = Arc::new(SqlLockout::new(db));
    let scope = Scope::Tenant(TenantId::generate());
    let policy = BruteForcePolicy::new(true, 10, 100, 60, 900, 3600).unwrap();
    let counters = policy.counters("Alice", Some("203.0.113.9".parse().unwrap()));
    let t0 = now();
    let tasks: Vec<_> = (0..24)
        .map(|_| {
            let (repo, counters) = (repo.clone(), counters.clone());
            tokio::spawn(async move { repo.reserve(scope, &counters, &policy, t0).await.unwrap() })
        })
        .collect();
    let mut granted = Vec::new();
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            Reservation::Granted(states) => granted.push(states[0].pending),
            Reservation::Refused { counter, state } => {
                assert_eq!(counter, 0, "the address's counter fills first");
                assert_eq!((state.pending, state.locked_until), (10, None), "full, not locked");
                refused += 1;
            }
        }
    }
    granted.sort_unstable();
    assert_eq!(granted, (1..=10).collect::<Vec<u32>>(), "ten places, then none");
    assert_eq!(refused, 14);

    // All ten fail: the tenth failure locks, and nothing more is granted.
    let mut last = Vec::new();
    for _ in 0..10 {
        last = repo.fail(scope, &counters, &policy, t0).await.unwrap();
    }
    assert_eq!((last[0].failures, last[0].pending, last[0].locked_until), (10, 0, Some(t0 + Duration::seconds(60))));
    assert_eq!((last[1].failures, last[1].locked_until), (10, None), "the name itself is not locked");
    assert!(matches!(repo.reserve(scope, &counters, &policy, t0).await.unwrap(), Reservation::Refused { .. }));

    // After the lock, one attempt at a time; its failure locks for twice as long.
    let t1 = t0 + Duration::seconds(61);
    assert!(matches!(repo.reserve(scope, &counters, &policy, t1).await.unwrap(), Reservation::Granted(_)));
    let Reservation::Refused { state, .. } = repo.reserve(scope, &counters, &policy, t1).await.unwrap() else {
        panic!("one at a time after a lock")
    };
    assert!(!state.is_locked(t1));
    let after = repo.fail(scope, &counters, &policy, t1).await.unwrap();
    assert_eq!((after[0].failures, after[0].locked_until), (11, Some(t1 + Duration::seconds(120))));

    // Another address of the same name is not locked; its success forgets what it saw.
    let home = policy.counters("alice", Some("198.51.100.7".parse().unwrap()));
    let Reservation::Granted(seen) = repo.reserve(scope, &home, &policy, t1).await.unwrap() else {
        panic!("another address is not locked out")
    };
    assert_eq!((seen[0].failures, seen[1].failures, seen[1].pending), (0, 11, 1));
    let observed: Vec<_> = home.iter().cloned().zip(seen.iter().map(|s| s.failures)).collect();
    repo.release(scope, &observed).await.unwrap();
    assert_eq!(repo.state(scope, &home[0].subject).await.unwrap(), None);
    assert_eq!(repo.state(scope, &home[1].subject).await.unwrap(), None);
    let listed = repo.address_states(scope, &LockoutSubject::user_name("ALICE"), 20).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0, "203.0.113.9");
    assert!(listed[0].1.is_locked(t1), "the attacker's address stays locked");

    // A policy whose first lock is its longest locks for it each time.
    let flat = BruteForcePolicy::new(true, 3, 100, 60, 60, 3600).unwrap();
    let other = flat.counters("carol", None);
    for _ in 0..3 {
        assert!(matches!(repo.reserve(scope, &other, &flat, t0).await.unwrap(), Reservation::Granted(_)));
        repo.fail(scope, &other, &flat, t0).await.unwrap();
    }
    assert_eq!(
        repo.state(scope, &other[0].subject).await.unwrap().unwrap().locked_until,
        Some(t0 + Duration::seconds(60))
    );

    // A limit lowered below the failures already counted: one attempt at a time, not none.
    let dave = policy.counters("dave", None);
    for _ in 0..5 {
        assert!(matches!(repo.reserve(scope, &dave, &policy, t0).await.unwrap(), Reservation::Granted(_)));
        repo.fail(scope, &dave, &policy, t0).await.unwrap();
    }
    let lowered = flat.counters("dave", None);
    assert!(matches!(repo.reserve(scope, &lowered, &flat, t0).await.unwrap(), Reservation::Granted(_)));
    assert!(matches!(repo.reserve(scope, &lowered, &flat, t0).await.unwrap(), Reservation::Refused { .. }));

    // An unlock clears the name and every address; records past the cutoff are purged.
    let unlocked = event(scope.tenant(), "user.unlocked");
    assert!(repo.unlock(scope, &LockoutSubject::user_name("alice"), &unlocked).await.unwrap());
    assert!(repo.address_states(scope, &LockoutSubject::user_name("alice"), 20).await.unwrap().is_empty());
    let key = [Counter { subject: LockoutSubject::key("abc"), limit: u32::MAX }];
    for _ in 0..3 {
        repo.fail(Scope::Platform, &key, &policy, t0).await.unwrap();
    }
    let counted = repo.state(Scope::Platform, &key[0].subject).await.unwrap().unwrap();
    assert_eq!((counted.failures, counted.locked_until), (3, None), "key secrets are counted, never locked");
    assert!(repo.purge(t0 + Duration::seconds(1), 100).await.unwrap() >= 1);
    assert_eq!(repo.state(Scope::Platform, &key[0].subject).await.unwrap(), None);
}

/// An event of `action` in `tenant`, now.
fn event(tenant: Option<TenantId>, action: &'static str) -> AuditEvent {
    let request = RequestContext::new(EntryPoint::Admin);
    AuditEvent::new(now(), tenant, Actor::anonymous(), action, Outcome::Success, &request)
}

async fn stored(db: &Database, id: uuid::Uuid) -> bool {
    let log = SqlAuditLog::new(db.clone());
    let page = PageRequest::parse(None, Some(100)).unwrap();
    let all = log.list(AuditScope::All, &AuditFilter::default(), page).await.unwrap();
    all.items.iter().any(|e| e.id == id)
}

async fn an_audited_change_commits_with_its_event_or_not_at_all(db: Database) {
    let tenants = SqlTenants::new(db.clone());
    let acme = tenant("acme");
    let created = event(Some(acme.id), "tenant.created");
    tenants.insert(&acme, &key(Scope::Tenant(acme.id), now()), &created).await.unwrap();
    assert!(stored(&db, created.id).await, "the event is there as soon as the change is");

    // A change that fails writes no event.
    let clash = tenant("acme");
    let refused = event(Some(clash.id), "tenant.created");
    assert!(tenants.insert(&clash, &key(Scope::Tenant(clash.id), now()), &refused).await.is_err());
    assert!(!stored(&db, refused.id).await);

    // An event that cannot be stored (its id is taken) takes the change down with it.
    let mut duplicate = event(Some(acme.id), "tenant.suspended");
    duplicate.id = created.id;
    assert!(tenants.set_status(acme.id, TenantStatus::Suspended, now(), &duplicate).await.is_err());
    let found = tenants.find(&keyplane_domain::tenant::TenantRef::Id(acme.id)).await.unwrap().unwrap();
    assert_eq!(found.status, TenantStatus::Active, "the status change rolled back with its event");

    // A write that changes nothing records nothing.
    let resumed = event(Some(acme.id), "tenant.resumed");
    assert!(tenants.set_status(acme.id, TenantStatus::Active, now(), &resumed).await.unwrap());
    assert!(!stored(&db, resumed.id).await);
}

async fn the_audit_trail_filters_within_its_scope(db: Database) {
    let log = SqlAuditLog::new(db.clone());
    let (a, b) = (TenantId::generate(), TenantId::generate());
    let alice = uuid::Uuid::now_v7();
    let start = now();
    let specs: [(Option<TenantId>, &'static str, Outcome, i64); 5] = [
        (Some(a), "user.sign_in.failed", Outcome::Failure, 0),
        (Some(a), "user.sign_in.succeeded", Outcome::Success, 1),
        (Some(a), "user.signXin.other", Outcome::Success, 2),
        (Some(b), "user.sign_in.failed", Outcome::Failure, 3),
        (None, "tenant.created", Outcome::Success, 4),
    ];
    for (tenant, action, outcome, secs) in specs {
        let actor = Actor { kind: ActorKind::User, id: Some(alice), name: Some("Alice".into()) };
        let mut e = AuditEvent::new(
            start + Duration::seconds(secs),
            tenant,
            actor,
            action,
            outcome,
            &RequestContext::new(EntryPoint::Native),
        );
        e.client_address = Some("192.0.2.1".into());
        log.record(&e).await.unwrap();
    }
    let page = PageRequest::parse(None, Some(100)).unwrap();
    let list = |scope, filter: AuditFilter| {
        let log = log.clone();
        async move { log.list(scope, &filter, page).await.unwrap() }
    };
    let all = list(AuditScope::All, AuditFilter::default()).await;
    assert_eq!(all.total, 5);
    let times: Vec<_> = all.items.iter().map(|e| e.time).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let only_a = list(AuditScope::Tenant(a), AuditFilter::default()).await;
    assert_eq!(only_a.total, 3);
    assert!(only_a.items.iter().all(|e| e.tenant == Some(a)));
    // `_` is not a wildcard.
    let prefix = AuditFilter { action_prefix: Some("user.sign_in".into()), ..Default::default() };
    assert_eq!(list(AuditScope::Tenant(a), prefix).await.total, 2);
    for actor in ["alice", "ALICE", &alice.to_string()] {
        let by = AuditFilter { actor: Some(actor.to_owned()), ..Default::default() };
        assert_eq!(list(AuditScope::All, by).await.total, 5, "{actor}");
    }
    let nobody = AuditFilter { actor: Some("bob".into()), ..Default::default() };
    assert_eq!(list(AuditScope::All, nobody).await.total, 0);
    let failures = AuditFilter { outcome: Some(Outcome::Failure), ..Default::default() };
    assert_eq!(list(AuditScope::All, failures).await.total, 2);
    let window = AuditFilter {
        since: Some(start + Duration::seconds(1)),
        until: Some(start + Duration::seconds(3)),
        ..Default::default()
    };
    assert_eq!(list(AuditScope::All, window).await.total, 2, "since inclusive, until exclusive");
    let e = &list(AuditScope::Tenant(b), AuditFilter::default()).await.items[0];
    assert_eq!((e.entry_point, e.client_address.as_deref()), (EntryPoint::Native, Some("192.0.2.1")));

    assert_eq!(log.purge(start + Duration::seconds(2), 1).await.unwrap(), 1);
    assert_eq!(log.purge(start + Duration::seconds(2), 10).await.unwrap(), 1);
    assert_eq!(list(AuditScope::All, AuditFilter::default()).await.total, 3);
}
