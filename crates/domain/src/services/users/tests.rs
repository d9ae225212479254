//! The user service over in-memory ports and a fixed clock: no HTTP, no database.

use super::*;
use crate::api_key::{ApiKey, GeneratedKey, KeyDescription};
use crate::services::sessions::reasons::KEY_REVOKED;
use crate::testing::{FixedClock, InMemoryApiKeys, InMemorySessions, InMemoryUsers, PlainHasher};
use serde_json::json;

struct Fixture {
    svc: UserService,
    keys: Arc<InMemoryApiKeys>,
    sessions: Arc<InMemorySessions>,
    clock: Arc<FixedClock>,
}

fn fixture() -> Fixture {
    let keys = Arc::new(InMemoryApiKeys::default());
    let sessions = Arc::new(InMemorySessions::default());
    let clock = Arc::new(FixedClock::default());
    let svc = UserService::new(
        Arc::new(InMemoryUsers::default()),
        keys.clone(),
        sessions.clone(),
        Arc::new(PlainHasher),
        clock.clone(),
    );
    Fixture { svc, keys, sessions, clock }
}

fn by() -> Initiator {
    Initiator {
        actor: crate::audit::Actor::anonymous(),
        request: crate::origin::RequestContext::new(crate::origin::EntryPoint::Admin),
    }
}

/// The user `id` in person (a session or a password of theirs).
fn in_person(id: UserId) -> Initiator {
    Initiator {
        actor: crate::audit::Actor { kind: crate::audit::ActorKind::User, id: Some(id.as_uuid()), name: None },
        request: crate::origin::RequestContext::new(crate::origin::EntryPoint::Native),
    }
}

fn service() -> UserService {
    fixture().svc
}

fn new_user(name: &str) -> NewUser {
    NewUser {
        user_name: UserName::parse(name).unwrap(),
        password: Password::parse_new("correct horse".into()).unwrap(),
        email: None,
        full_name: None,
        roles: Roles::default(),
        enabled: true,
        metadata: Metadata::parse(json!({"team": "a", "level": 1})).unwrap(),
    }
}

impl Fixture {
    /// A key of `owner` in `tenant`; returns its id.
    async fn key(&self, tenant: TenantId, owner: KeyOwner) -> ApiKeyId {
        let generated = GeneratedKey::generate();
        let key = ApiKey {
            id: ApiKeyId::generate(),
            tenant_id: tenant,
            public_id: generated.public_id,
            digest: generated.digest,
            description: KeyDescription::default(),
            owner,
            roles: Roles::default(),
            created_at: self.clock.0,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
        };
        self.keys.insert(&key).await.unwrap();
        key.id
    }

    fn open(&self, tenant: TenantId, subject: SessionSubject) -> SessionId {
        self.sessions.open(Scope::Tenant(tenant), subject, self.clock.0)
    }
}

/// Alice, Bob, a key of Alice's and an application key, each with a session.
struct Sessions {
    alice: [SessionId; 2],
    alice_key: SessionId,
    bob: SessionId,
    app_key: SessionId,
}

async fn sessions_of_alice_and_others(f: &Fixture, t: TenantId) -> (User, Sessions) {
    let alice = f.svc.create(t, new_user("alice"), &by()).await.unwrap();
    let bob = f.svc.create(t, new_user("bob"), &by()).await.unwrap();
    let alice_key = f.key(t, KeyOwner::User(alice.id)).await;
    let app_key = f.key(t, KeyOwner::Application).await;
    let sessions = Sessions {
        alice: [f.open(t, SessionSubject::User(alice.id)), f.open(t, SessionSubject::User(alice.id))],
        alice_key: f.open(t, SessionSubject::ApiKey(alice_key)),
        bob: f.open(t, SessionSubject::User(bob.id)),
        app_key: f.open(t, SessionSubject::ApiKey(app_key)),
    };
    (alice, sessions)
}

#[tokio::test]
async fn every_write_is_recorded_by_its_initiator_without_the_password() {
    let audit = Arc::new(crate::testing::InMemoryAudit::default());
    let svc = UserService::new(
        Arc::new(InMemoryUsers::with_audit(audit.clone())),
        Arc::new(InMemoryApiKeys::default()),
        Arc::new(InMemorySessions::default()),
        Arc::new(PlainHasher),
        Arc::new(FixedClock::default()),
    );
    let t = TenantId::generate();
    let admin = crate::audit::Actor { name: Some("root".into()), ..crate::audit::Actor::anonymous() };
    let by = Initiator { actor: admin.clone(), ..by() };
    svc.create(t, new_user("alice"), &by).await.unwrap();
    let patch = UserPatch {
        email: Some(Some(Email::parse("a@example.com").unwrap())),
        password: Some(Password::parse_new("new password".into()).unwrap()),
        enabled: Some(false),
        ..Default::default()
    };
    svc.update(t, "alice", patch, None, &by).await.unwrap();
    svc.delete(t, "alice", &by).await.unwrap();
    assert!(matches!(svc.delete(t, "alice", &by).await, Err(FindUserError::NotFound)));
    assert_eq!(
        audit.actions(),
        [
            action::USER_CREATED,
            action::USER_UPDATED,
            action::USER_PASSWORD_CHANGED,
            action::USER_DISABLED,
            action::USER_DELETED
        ]
    );
    let events = audit.events();
    assert!(events.iter().all(|e| e.actor == admin && e.tenant == Some(t)));
    assert_eq!(events[1].details.get("fields"), Some(&json!(["email"])));
    let shown = format!("{events:?}");
    for secret in ["correct horse", "new password", "a@example.com"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}

#[tokio::test]
async fn names_are_unique_without_case_within_a_tenant_only() {
    let svc = service();
    let t1 = TenantId::generate();
    let t2 = TenantId::generate();
    svc.create(t1, new_user("Alice"), &by()).await.unwrap();
    assert!(matches!(svc.create(t1, new_user("alice"), &by()).await, Err(WriteError::NameTaken)));
    svc.create(t2, new_user("alice"), &by()).await.unwrap();
    assert_eq!(svc.get(t1, "ALICE").await.unwrap().user_name.as_str(), "Alice");
    assert!(matches!(svc.get(t2, "bob").await, Err(FindUserError::NotFound)));
}

#[tokio::test]
async fn an_id_means_that_user_even_when_another_is_named_like_it() {
    let svc = service();
    let t = TenantId::generate();
    let alice = svc.create(t, new_user("alice"), &by()).await.unwrap();
    let impostor = svc.create(t, new_user(&alice.id.to_string()), &by()).await.unwrap();
    assert_eq!(svc.get(t, &alice.id.to_string()).await.unwrap().id, alice.id);
    assert_eq!(svc.get(t, &impostor.id.to_string()).await.unwrap().id, impostor.id);
    svc.delete(t, &alice.id.to_string(), &by()).await.unwrap();
    assert_eq!(svc.get(t, &alice.id.to_string()).await.unwrap().id, impostor.id, "then the name");
}

#[tokio::test]
async fn patch_merges_metadata_and_clears_nullable_fields() {
    let svc = service();
    let t = TenantId::generate();
    let mut nu = new_user("carol");
    nu.email = Some(Email::parse("c@example.com").unwrap());
    svc.create(t, nu, &by()).await.unwrap();
    let patch = UserPatch { email: Some(None), metadata: Some(json!({"team": null, "x": true})), ..Default::default() };
    let u = svc.update(t, "carol", patch, None, &by()).await.unwrap();
    assert_eq!(u.email, None);
    assert_eq!(u.metadata.to_value(), json!({"level": 1, "x": true}));
}

#[tokio::test]
async fn disabling_ends_the_users_sessions_and_those_of_their_keys() {
    let f = fixture();
    let t = TenantId::generate();
    let (_, s) = sessions_of_alice_and_others(&f, t).await;
    let patch = UserPatch { enabled: Some(false), ..Default::default() };
    let alice = f.svc.update(t, "alice", patch, Some(s.alice[0]), &by()).await.unwrap();
    assert!(!alice.enabled);
    for ended in [s.alice[0], s.alice[1]] {
        assert_eq!(f.sessions.ended(ended).as_deref(), Some(USER_DISABLED));
    }
    // Her key is revoked for good, and with it its session.
    assert_eq!(f.sessions.ended(s.alice_key).as_deref(), Some(KEY_REVOKED));
    assert_eq!(f.sessions.ended(s.bob), None);
    assert_eq!(f.sessions.ended(s.app_key), None);
}

#[tokio::test]
async fn a_profile_patch_ends_no_session() {
    let f = fixture();
    let t = TenantId::generate();
    let (_, s) = sessions_of_alice_and_others(&f, t).await;
    let patch = UserPatch {
        full_name: Some(Some(FullName::parse("Alice").unwrap())),
        enabled: Some(true),
        ..Default::default()
    };
    f.svc.update(t, "alice", patch, None, &by()).await.unwrap();
    for active in [s.alice[0], s.alice[1], s.alice_key, s.bob, s.app_key] {
        assert_eq!(f.sessions.ended(active), None);
    }
}

#[tokio::test]
async fn deleting_ends_the_users_sessions_and_those_of_their_keys() {
    let f = fixture();
    let t = TenantId::generate();
    let (_, s) = sessions_of_alice_and_others(&f, t).await;
    f.svc.delete(t, "alice", &by()).await.unwrap();
    for ended in [s.alice[0], s.alice[1], s.alice_key] {
        assert_eq!(f.sessions.ended(ended).as_deref(), Some(USER_DELETED));
    }
    assert_eq!(f.sessions.ended(s.bob), None);
    assert_eq!(f.sessions.ended(s.app_key), None);
    assert!(matches!(f.svc.delete(t, "alice", &by()).await, Err(FindUserError::NotFound)));
}

#[tokio::test]
async fn a_new_password_keeps_the_callers_session_and_ends_the_others() {
    let f = fixture();
    let t = TenantId::generate();
    let (alice, s) = sessions_of_alice_and_others(&f, t).await;
    let patch = UserPatch { password: Some(Password::parse_new("new password".into()).unwrap()), ..Default::default() };
    let changed = f.svc.update(t, "alice", patch, Some(s.alice[0]), &in_person(alice.id)).await.unwrap();
    assert_eq!(changed.password_hash.as_phc(), "plain:new password");
    assert_ne!(changed.password_hash, alice.password_hash);
    assert_eq!(f.sessions.ended(s.alice[0]), None, "the caller's session survives");
    assert_eq!(f.sessions.ended(s.alice[1]).as_deref(), Some(PASSWORD_CHANGED));
    // A change in person keeps her keys, and their sessions go on.
    for active in [s.alice_key, s.bob, s.app_key] {
        assert_eq!(f.sessions.ended(active), None);
    }
}

#[tokio::test]
async fn a_new_password_set_by_an_admin_ends_every_session_of_the_user() {
    let f = fixture();
    let t = TenantId::generate();
    let (_, s) = sessions_of_alice_and_others(&f, t).await;
    let patch = UserPatch { password: Some(Password::parse_new("new password".into()).unwrap()), ..Default::default() };
    // An admin's own session is not Alice's: nothing of hers is kept.
    f.svc.update(t, "alice", patch, Some(s.bob), &by()).await.unwrap();
    assert_eq!(f.sessions.ended(s.alice[0]).as_deref(), Some(PASSWORD_CHANGED));
    assert_eq!(f.sessions.ended(s.alice[1]).as_deref(), Some(PASSWORD_CHANGED));
    assert_eq!(f.sessions.ended(s.bob), None);
    let patch =
        UserPatch { password: Some(Password::parse_new("newer password".into()).unwrap()), ..Default::default() };
    let other = f.open(t, SessionSubject::User(f.svc.get(t, "alice").await.unwrap().id));
    f.svc.update(t, "alice", patch, None, &by()).await.unwrap();
    assert_eq!(f.sessions.ended(other).as_deref(), Some(PASSWORD_CHANGED));
    assert_eq!(f.sessions.ended(s.alice_key).as_deref(), Some(KEY_REVOKED), "an admin's reset revokes her key");
}

#[tokio::test]
async fn a_profile_patch_leaves_enabled_and_the_password_to_their_own_writes() {
    let f = fixture();
    let t = TenantId::generate();
    let alice = f.svc.create(t, new_user("alice"), &by()).await.unwrap();
    let patch = UserPatch {
        full_name: Some(Some(FullName::parse("Alice").unwrap())),
        password: Some(Password::parse_new("new password".into()).unwrap()),
        enabled: Some(false),
        ..Default::default()
    };
    let updated = f.svc.update(t, "alice", patch, None, &by()).await.unwrap();
    assert_eq!(updated.full_name.as_ref().map(FullName::as_str), Some("Alice"));
    assert!(!updated.enabled);
    assert_eq!(updated.password_hash.as_phc(), "plain:new password");
    assert_eq!(updated.id, alice.id);
}
