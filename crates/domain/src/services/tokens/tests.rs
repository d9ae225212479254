//! The use cases over in-memory ports and a manual clock: no HTTP, no database.

use super::*;
use crate::api_key::{ApiKey, GeneratedKey, KeyDescription, KeyOwner, PresentedKey};
use crate::audit::Initiator;
use crate::clock::Clock;
use crate::clusters::NativeCluster;
use crate::ids::{ApiKeyId, TenantId, UserId};
use crate::origin::{EntryPoint, RequestContext};
use crate::password::{Password, PasswordHasher};
use crate::policy::{ClusterKind, SigningAlgorithm, TokenPolicy};
use crate::role::Roles;
use crate::services::tokens::{Credentials, Realm, Renewal, SignInRequest, SignOut};
use crate::session::SessionSubject;
use crate::tenant::{TenantName, TenantRef, TenantSlug, TenantStatus};
use crate::testing::{
    InMemoryApiKeys, InMemoryAudit, InMemoryLockout, InMemoryOperators, InMemoryPlatformKeys, InMemorySessions,
    InMemorySigningKeys, InMemoryTenants, InMemoryUsers, ManualClock, PlainHasher,
};
use crate::token::{Claims, CryptoError, KeyMaterial, SigningKey, TokenCodec};
use crate::user::{Metadata, User, UserName};
use chrono::Duration;
use std::collections::HashMap;
use std::sync::Mutex;

/// A codec that keeps what it signed: a token is an opaque handle to (kid, claims), so
/// only tokens this codec issued verify, and only with the key that signed them.
#[derive(Default)]
struct HandleCodec(Mutex<HashMap<String, (String, Claims)>>);

impl TokenCodec for HandleCodec {
    fn generate(&self, kid: &str, _: SigningAlgorithm) -> Result<KeyMaterial, CryptoError> {
        Ok(KeyMaterial { public_jwk: serde_json::json!({ "kid": kid }), sealed_private: vec![] })
    }
    fn sign(&self, key: &SigningKey, claims: &Claims) -> Result<String, CryptoError> {
        let token = format!("{}.{}", key.kid, uuid::Uuid::new_v4());
        self.0.lock().unwrap().insert(token.clone(), (key.kid.clone(), claims.clone()));
        Ok(token)
    }
    fn kid_of(&self, token: &str) -> Option<String> {
        token.split_once('.').map(|(kid, _)| kid.to_owned())
    }
    fn verify(&self, key: &SigningKey, token: &str) -> Result<Claims, CryptoError> {
        match self.0.lock().unwrap().get(token) {
            Some((kid, claims)) if *kid == key.kid => Ok(claims.clone()),
            _ => Err(CryptoError::InvalidToken),
        }
    }
}

struct World {
    tokens: TokenService,
    audit: Arc<InMemoryAudit>,
    clock: Arc<ManualClock>,
    tenants: Arc<InMemoryTenants>,
    users: Arc<InMemoryUsers>,
    keys: Arc<InMemoryApiKeys>,
    sessions: Arc<InMemorySessions>,
    tenant: Tenant,
    alice: User,
}

const PW: &str = "correct horse battery";

/// Where the test requests come from.
static ORIGIN: std::sync::LazyLock<RequestContext> =
    std::sync::LazyLock::new(|| RequestContext::new(EntryPoint::Native));

async fn world(grace_secs: i64) -> World {
    let clock = Arc::new(ManualClock::default());
    let tenants = Arc::new(InMemoryTenants::default());
    let users = Arc::new(InMemoryUsers::default());
    let keys = Arc::new(InMemoryApiKeys::default());
    let audit = Arc::new(InMemoryAudit::default());
    let sessions = Arc::new(InMemorySessions::with_audit(audit.clone()));
    let hasher: Arc<dyn PasswordHasher> = Arc::new(PlainHasher);
    let signing = Arc::new(SigningKeys::new(
        Arc::new(InMemorySigningKeys::default()),
        Arc::new(HandleCodec::default()),
        clock.clone(),
    ));
    let tenant = Tenant {
        id: TenantId::generate(),
        slug: TenantSlug::parse("acme").unwrap(),
        name: TenantName::parse("Acme").unwrap(),
        status: TenantStatus::Active,
        policy: TokenPolicy::from_seconds(900, 86_400, grace_secs, SigningAlgorithm::EdDsa).unwrap(),
        cluster: Some(ClusterKind::Native),
        created_at: clock.now(),
        updated_at: clock.now(),
    };
    let first_key = signing.new_key(Scope::Tenant(tenant.id), SigningAlgorithm::EdDsa).unwrap();
    tenants.insert(&tenant, &first_key).await.unwrap();
    let alice = User {
        id: UserId::generate(),
        tenant_id: tenant.id,
        user_name: UserName::parse("alice").unwrap(),
        email: None,
        full_name: None,
        roles: Roles::single("tenant_viewer"),
        enabled: true,
        metadata: Metadata::from_stored(serde_json::json!({})),
        password_hash: hasher.hash(Scope::Platform, &Password::presented(PW.into())).await.unwrap(),
        created_at: clock.now(),
        updated_at: clock.now(),
        last_login_at: None,
    };
    users.insert(&alice).await.unwrap();
    let ports = TokenPorts {
        tenants: tenants.clone(),
        users: users.clone(),
        platform_users: Arc::new(InMemoryOperators::default()),
        platform_keys: Arc::new(InMemoryPlatformKeys::default()),
        keys: keys.clone(),
        sessions: sessions.clone(),
        signing,
        clusters: ClusterRegistry::default()
            .with(ClusterKind::Native, Arc::new(NativeCluster::new(users.clone(), hasher.clone()))),
        hasher,
        lockout: Arc::new(InMemoryLockout::default()),
        audit: audit.clone(),
        clock: clock.clone(),
    };
    World {
        tokens: TokenService::new(ports, "http://kp.test"),
        audit,
        clock,
        tenants,
        users,
        keys,
        sessions,
        tenant,
        alice,
    }
}

impl World {
    async fn sign_in(&self, password: &str) -> Result<Issued, SignInError> {
        self.tokens
            .sign_in(SignInRequest {
                realm: Realm::Tenant(&self.tenant),
                credentials: Credentials::Password {
                    user_name: "ALICE".into(),
                    password: Password::presented(password.into()),
                },
                origin: &ORIGIN,
                with_refresh: true,
            })
            .await
    }

    async fn refresh(&self, token: &str) -> Result<Renewed, TokenError> {
        self.tokens.renew(Renewal::refresh(token, Some(self.tenant.id))).await
    }

    async fn active(&self, token: &str) -> bool {
        self.tokens.introspect(&self.tenant, token).await.unwrap().is_some()
    }

    async fn app_key(&self, owner: KeyOwner) -> (ApiKey, String) {
        let generated = GeneratedKey::generate();
        let key = ApiKey {
            id: ApiKeyId::generate(),
            tenant_id: self.tenant.id,
            public_id: generated.public_id,
            digest: generated.digest,
            description: KeyDescription::parse("test").unwrap(),
            owner,
            roles: Roles::single("tenant_admin"),
            created_at: self.clock.now(),
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
        };
        self.keys.insert(&key).await.unwrap();
        (key, generated.full_text)
    }
}

fn refresh_of(issued: &Issued) -> String {
    issued.refresh_token.clone().expect("a refresh token")
}

#[tokio::test]
async fn sign_in_opens_a_session_with_distinct_access_and_refresh_tokens() {
    let w = world(0).await;
    let issued = w.sign_in(PW).await.unwrap();
    assert_eq!(issued.claims.aud, "http://kp.test/t/acme");
    assert_eq!(issued.claims.token_use, "access");
    let refresh = refresh_of(&issued);
    let ctx = w.tokens.authenticate(&issued.access_token, false).await.unwrap();
    assert_eq!(ctx.session.subject, SessionSubject::User(w.alice.id));
    assert!(
        matches!(w.tokens.authenticate(&refresh, false).await, Err(TokenError::Invalid(_))),
        "a refresh token never authenticates a request"
    );
    assert!(matches!(w.sign_in("wrong").await, Err(SignInError::InvalidCredentials)));
    assert!(w.users.find_by_id(w.tenant.id, w.alice.id).await.unwrap().unwrap().last_login_at.is_some());
}

#[tokio::test]
async fn rotation_issues_a_new_refresh_token_and_reuse_ends_the_session() {
    let w = world(0).await;
    let first = w.sign_in(PW).await.unwrap();
    let r1 = refresh_of(&first);
    let second = w.refresh(&r1).await.unwrap();
    assert!(second.rotated);
    let r2 = refresh_of(&second.issued);
    assert!(w.active(&r2).await);
    assert!(!w.active(&r1).await, "a rotated refresh token is no longer current");
    assert!(matches!(w.refresh(&r1).await, Err(TokenError::ReuseDetected)));
    assert!(matches!(w.refresh(&r2).await, Err(TokenError::Invalid(_))), "reuse ended the whole session");
    assert!(!w.active(&second.issued.access_token).await);
}

#[tokio::test]
async fn within_the_grace_a_retry_gets_the_same_successor_and_after_it_is_reuse() {
    let w = world(10).await;
    let first = w.sign_in(PW).await.unwrap();
    let r1 = refresh_of(&first);
    let a = w.refresh(&r1).await.unwrap();
    w.clock.advance(Duration::seconds(5));
    let b = w.refresh(&r1).await.unwrap();
    assert_eq!(a.issued.session.refresh_jti, b.issued.session.refresh_jti, "the same successor, not a new chain");
    assert_eq!(a.issued.session.refresh_count, 1);
    let successor = refresh_of(&b.issued);
    assert!(w.active(&successor).await);
    w.clock.advance(Duration::seconds(6));
    assert!(matches!(w.refresh(&r1).await, Err(TokenError::ReuseDetected)), "11 s later the grace is over");
    assert!(matches!(w.refresh(&successor).await, Err(TokenError::Invalid(_))));
}

#[tokio::test]
async fn tokens_expire_with_the_clock() {
    let w = world(0).await;
    let issued = w.sign_in(PW).await.unwrap();
    w.clock.advance(Duration::minutes(16));
    assert!(matches!(w.tokens.authenticate(&issued.access_token, false).await, Err(TokenError::Invalid(_))));
    assert!(w.tokens.authenticate(&issued.access_token, true).await.is_ok(), "expired but signed (Sensu)");
    let renewed = w.refresh(&refresh_of(&issued)).await.unwrap();
    assert!(w.active(&renewed.issued.access_token).await);
    w.clock.advance(Duration::days(1));
    assert!(matches!(w.refresh(&refresh_of(&renewed.issued)).await, Err(TokenError::Invalid(_))), "session over");
}

#[tokio::test]
async fn a_disabled_user_loses_every_session_and_cannot_sign_in() {
    let w = world(0).await;
    let issued = w.sign_in(PW).await.unwrap();
    w.users.set_enabled(w.tenant.id, w.alice.id, false, w.clock.now()).await.unwrap();
    assert!(!w.active(&issued.access_token).await);
    assert!(matches!(w.refresh(&refresh_of(&issued)).await, Err(TokenError::Invalid(_))));
    assert!(matches!(w.sign_in(PW).await, Err(SignInError::InvalidCredentials)));
}

/// The caller a bearer token names is the subject as it stands now: a user renamed since
/// sign-in acts (and is audited) under the new name, never the one the session began with.
#[tokio::test]
async fn a_bearer_names_its_subject_as_it_is_now() {
    let w = world(0).await;
    let issued = w.sign_in(PW).await.unwrap();
    assert_eq!(w.tokens.authenticate(&issued.access_token, false).await.unwrap().principal().name, "alice");
    let renamed = User { user_name: UserName::parse("alice-old").unwrap(), ..w.alice.clone() };
    let event = Initiator { actor: crate::audit::Actor::anonymous(), request: ORIGIN.clone() }.event(
        Some(w.tenant.id),
        crate::audit::action::USER_UPDATED,
        w.clock.now(),
    );
    assert!(w.users.update(&renamed, &event).await.unwrap());
    let principal = w.tokens.authenticate(&issued.access_token, false).await.unwrap().principal();
    assert_eq!(principal.name, "alice-old");
    let by = Initiator::new(&principal, ORIGIN.clone());
    assert_eq!(by.actor.name.as_deref(), Some("alice-old"));
}

#[tokio::test]
async fn a_password_change_takes_effect_at_the_next_sign_in() {
    let w = world(0).await;
    let hash = PlainHasher.hash(Scope::Platform, &Password::presented("new horse battery".into())).await.unwrap();
    w.users.set_password(w.tenant.id, w.alice.id, &hash, w.clock.now()).await.unwrap();
    assert!(matches!(w.sign_in(PW).await, Err(SignInError::InvalidCredentials)));
    assert!(w.sign_in("new horse battery").await.is_ok());
}

#[tokio::test]
async fn an_access_token_renews_only_where_allowed_and_is_never_rotated() {
    let w = world(0).await;
    let issued = w.sign_in(PW).await.unwrap();
    let plain = Renewal::refresh(&issued.access_token, None);
    assert!(matches!(w.tokens.renew(plain).await, Err(TokenError::Invalid(_))));
    let ece = Renewal { accept_access: true, ..plain };
    let renewed = w.tokens.renew(ece).await.unwrap();
    assert!(!renewed.rotated);
    assert_eq!(renewed.issued.session.id, issued.session.id);
}

#[tokio::test]
async fn a_companion_access_token_must_be_of_the_same_session() {
    let w = world(0).await;
    let one = w.sign_in(PW).await.unwrap();
    let two = w.sign_in(PW).await.unwrap();
    let crossed =
        Renewal { companion: Some(&two.access_token), ..Renewal::refresh(one.refresh_token.as_deref().unwrap(), None) };
    assert!(matches!(w.tokens.renew(crossed).await, Err(TokenError::Invalid(_))));
    let matched = Renewal { companion: Some(&one.access_token), ..crossed };
    assert!(w.tokens.renew(matched).await.is_ok());
}

#[tokio::test]
async fn sign_out_ends_the_session_and_revoke_ignores_garbage() {
    let w = world(0).await;
    let issued = w.sign_in(PW).await.unwrap();
    let out = SignOut {
        token: &issued.access_token,
        tenant: Some(w.tenant.id),
        companion: issued.refresh_token.as_deref(),
        origin: &ORIGIN,
    };
    assert!(w.tokens.sign_out(out).await.unwrap());
    assert!(!w.active(&issued.access_token).await);
    assert!(!w.tokens.revoke(&w.tenant, "not-a-token", &ORIGIN).await.unwrap());
    let session = w.sessions.find(Scope::Tenant(w.tenant.id), issued.session.id).await.unwrap().unwrap();
    assert_eq!(session.revoked_reason.as_deref(), Some("logout"));
    // On record once, by the user, naming the session; signing out again records nothing.
    assert!(!w.tokens.sign_out(out).await.unwrap());
    let ended: Vec<_> =
        w.audit.events().into_iter().filter(|e| e.action == crate::audit::action::SESSION_REVOKED).collect();
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0].actor.name.as_deref(), Some("alice"));
    assert_eq!(ended[0].details.get("session_id"), Some(&serde_json::json!(issued.session.id.to_string())));
}

/// An expired access token alone (leaked from a log long ago) cannot end its user's live
/// session, by sign-out or by revocation; beside the session's live refresh token it can.
#[tokio::test]
async fn an_expired_access_token_alone_ends_nothing() {
    let w = world(0).await;
    let issued = w.sign_in(PW).await.unwrap();
    w.clock.advance(chrono::Duration::minutes(16));
    let alone = SignOut { token: &issued.access_token, tenant: Some(w.tenant.id), companion: None, origin: &ORIGIN };
    assert!(matches!(w.tokens.sign_out(alone).await, Err(TokenError::Invalid(_))));
    assert!(!w.tokens.revoke(&w.tenant, &issued.access_token, &ORIGIN).await.unwrap());
    let session = w.sessions.find(Scope::Tenant(w.tenant.id), issued.session.id).await.unwrap().unwrap();
    assert_eq!(session.revoked_at, None, "the session lives on");
    let beside = SignOut { companion: issued.refresh_token.as_deref(), ..alone };
    assert!(w.tokens.sign_out(beside).await.unwrap());
}

#[tokio::test]
async fn api_keys_are_checked_in_their_tenant_and_a_users_key_dies_with_its_owner() {
    let w = world(0).await;
    let (_, text) = w.app_key(KeyOwner::Application).await;
    let creds = || Credentials::ApiKey(PresentedKey::parse(&text).unwrap());
    let verified = w.tokens.check(Realm::KeyTenant, &creds(), &ORIGIN).await.unwrap();
    assert_eq!(verified.tenant.map(|t| t.id), Some(w.tenant.id));
    let mut other = w.tenant.clone();
    other.id = TenantId::generate();
    assert!(matches!(
        w.tokens.check(Realm::Tenant(&other), &creds(), &ORIGIN).await,
        Err(SignInError::InvalidCredentials)
    ));

    let (_, users_key) = w.app_key(KeyOwner::User(w.alice.id)).await;
    let request = || SignInRequest {
        realm: Realm::Tenant(&w.tenant),
        credentials: Credentials::ApiKey(PresentedKey::parse(&users_key).unwrap()),
        origin: &ORIGIN,
        with_refresh: true,
    };
    let issued = w.tokens.sign_in(request()).await.unwrap();
    assert_eq!(issued.claims.roles, ["tenant_viewer"], "a user's key acts with its owner's roles");
    w.users.set_enabled(w.tenant.id, w.alice.id, false, w.clock.now()).await.unwrap();
    assert!(!w.active(&issued.access_token).await, "the key's sessions end with its owner");
    assert!(matches!(w.tokens.sign_in(request()).await, Err(SignInError::InvalidCredentials)));
}

#[tokio::test]
async fn a_suspended_tenant_authenticates_no_one() {
    let w = world(0).await;
    let issued = w.sign_in(PW).await.unwrap();
    w.tenants.set_status(w.tenant.id, TenantStatus::Suspended, w.clock.now()).await.unwrap();
    let suspended = w.tenants.find(&TenantRef::Id(w.tenant.id)).await.unwrap().unwrap();
    assert!(!w.active(&issued.access_token).await);
    assert!(matches!(w.refresh(&refresh_of(&issued)).await, Err(TokenError::Invalid(_))));
    let request = SignInRequest {
        realm: Realm::Tenant(&suspended),
        credentials: Credentials::Password { user_name: "alice".into(), password: Password::presented(PW.into()) },
        origin: &ORIGIN,
        with_refresh: true,
    };
    assert!(matches!(w.tokens.sign_in(request).await, Err(SignInError::TenantSuspended)));
}

#[tokio::test]
async fn repeated_failures_lock_the_name_whatever_the_password_then_the_lock_ends() {
    let w = world(0).await;
    for _ in 0..10 {
        assert!(matches!(w.sign_in("wrong").await, Err(SignInError::InvalidCredentials)));
    }
    assert!(matches!(w.sign_in(PW).await, Err(SignInError::InvalidCredentials)), "locked: the right password fails");
    w.clock.advance(Duration::seconds(59));
    assert!(matches!(w.sign_in(PW).await, Err(SignInError::InvalidCredentials)), "still locked");
    let scope = Scope::Tenant(w.tenant.id);
    assert_eq!(w.tokens.lockout_state(scope, "alice").await.unwrap().failures, 10, "locked attempts are not counted");
    w.clock.advance(Duration::seconds(2));
    assert!(w.sign_in(PW).await.is_ok(), "attempts while locked did not extend the lock");
    for _ in 0..9 {
        assert!(w.sign_in("wrong").await.is_err());
    }
    assert!(w.sign_in(PW).await.is_ok(), "a success reset the count: nine failures do not lock");
}

#[tokio::test]
async fn an_attackers_address_is_locked_out_while_the_users_own_signs_in() {
    let w = world(0).await;
    let from = |ip: &str, password: &str| {
        let origin = RequestContext { client_address: Some(ip.parse().unwrap()), ..ORIGIN.clone() };
        let w = &w;
        let password = password.to_owned();
        async move {
            w.tokens
                .sign_in(SignInRequest {
                    realm: Realm::Tenant(&w.tenant),
                    credentials: Credentials::Password {
                        user_name: "alice".into(),
                        password: Password::presented(password),
                    },
                    origin: &origin,
                    with_refresh: true,
                })
                .await
        }
    };
    for _ in 0..12 {
        assert!(from("203.0.113.9", "guess").await.is_err());
    }
    assert!(from("203.0.113.9", PW).await.is_err(), "the attacker's address is locked out");
    assert!(from("198.51.100.7", PW).await.is_ok(), "alice's own address signs in");
    let state = w.tokens.lockout_state(Scope::Tenant(w.tenant.id), "alice").await.unwrap();
    assert_eq!(state.locked_until, None, "the name itself is not locked");
    assert_eq!(state.addresses.len(), 1, "{state:?}");
    assert_eq!(state.addresses[0].address, "203.0.113.9");
    assert_eq!(state.addresses[0].failures, 10, "only what was verified counts");
    assert!(state.addresses[0].locked_until.is_some());

    // Many addresses together lock the name after max_failures_total (100 by default);
    // alice's success above forgot the ten it observed.
    for i in 0..100 {
        assert!(from(&format!("10.0.{}.{}", i / 9, i % 9), "guess").await.is_err());
    }
    assert!(from("198.51.100.7", PW).await.is_err(), "now the name is locked for everyone");
    let state = w.tokens.lockout_state(Scope::Tenant(w.tenant.id), "alice").await.unwrap();
    assert_eq!(state.failures, 100);
    assert!(state.locked_until.is_some());
    let by = Initiator { actor: crate::audit::Actor::anonymous(), request: ORIGIN.clone() };
    assert!(w.tokens.unlock(Scope::Tenant(w.tenant.id), "alice", &by).await.unwrap());
    assert_eq!(w.tokens.lockout_state(Scope::Tenant(w.tenant.id), "alice").await.unwrap(), Default::default());
    assert!(from("203.0.113.9", PW).await.is_ok(), "unlocking cleared the address too");
}

#[tokio::test]
async fn unknown_names_lock_the_same_way_and_admins_unlock() {
    let w = world(0).await;
    let ghost = |password: &str| {
        w.tokens.sign_in(SignInRequest {
            realm: Realm::Tenant(&w.tenant),
            credentials: Credentials::Password {
                user_name: "ghost".into(),
                password: Password::presented(password.into()),
            },
            origin: &ORIGIN,
            with_refresh: true,
        })
    };
    for _ in 0..10 {
        assert!(ghost("x").await.is_err());
    }
    let scope = Scope::Tenant(w.tenant.id);
    assert_eq!(w.tokens.lockout_state(scope, "GHOST").await.unwrap().failures, 10);
    for _ in 0..10 {
        assert!(w.sign_in("wrong").await.is_err());
    }
    let alice = w.tokens.lockout_state(scope, "alice").await.unwrap();
    assert!(alice.addresses[0].locked_until.is_some(), "{alice:?}");
    assert!(w
        .tokens
        .unlock(scope, "Alice", &Initiator { actor: crate::audit::Actor::anonymous(), request: ORIGIN.clone() })
        .await
        .unwrap());
    assert!(w.sign_in(PW).await.is_ok());
}

#[tokio::test]
async fn wrong_key_secrets_are_counted_but_never_lock_the_application_out() {
    let w = world(0).await;
    let (key, text) = w.app_key(KeyOwner::Application).await;
    let wrong = format!("kp_{}_{}", key.public_id, "x".repeat(43));
    let w = &w;
    let check = |t: String| async move {
        let credentials = Credentials::ApiKey(PresentedKey::parse(&t).unwrap());
        w.tokens.check(Realm::KeyTenant, &credentials, &ORIGIN).await
    };
    for _ in 0..20 {
        assert!(matches!(check(wrong.clone()).await, Err(SignInError::InvalidCredentials)));
    }
    assert!(check(text).await.is_ok(), "knowing a public id must not let anyone lock the key");
}

#[tokio::test]
async fn sign_ins_failures_locks_and_reuse_are_recorded_without_secrets() {
    let w = world(0).await;
    let issued = w.sign_in(PW).await.unwrap();
    for _ in 0..10 {
        assert!(w.sign_in("wrong guess").await.is_err());
    }
    let first = issued.refresh_token.clone().unwrap();
    w.refresh(&first).await.unwrap();
    assert!(matches!(w.refresh(&first).await, Err(TokenError::ReuseDetected)));
    let events = w.audit.events();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "user.sign_in.succeeded").count(), 1);
    assert_eq!(actions.iter().filter(|a| **a == "user.sign_in.failed").count(), 10);
    assert_eq!(actions.iter().filter(|a| **a == "user.locked").count(), 1, "locked once, at the limit");
    assert_eq!(actions.iter().filter(|a| **a == "session.reuse_detected").count(), 1);
    let text = format!("{events:?}");
    assert!(!text.contains(PW) && !text.contains("wrong guess"), "no password in the trail");
}

#[tokio::test]
async fn names_no_user_can_have_are_refused_without_being_counted_or_recorded() {
    let w = world(0).await;
    let scope = Scope::Tenant(w.tenant.id);
    for name in ["a\0b".to_owned(), String::new(), "x".repeat(129), "al ice".to_owned()] {
        let result = w
            .tokens
            .sign_in(SignInRequest {
                realm: Realm::Tenant(&w.tenant),
                credentials: Credentials::Password {
                    user_name: name.clone(),
                    password: Password::presented(PW.into()),
                },
                origin: &ORIGIN,
                with_refresh: true,
            })
            .await;
        assert!(matches!(result, Err(SignInError::InvalidCredentials)), "{name:?}");
        let state = w.tokens.lockout_state(scope, &name).await.unwrap();
        assert_eq!(state, crate::lockout::LockoutStatus::default(), "{name:?} is not counted");
    }
    let events = w.audit.events();
    assert_eq!(events.len(), 4, "each refusal is audited");
    let text = format!("{events:?}");
    assert!(text.contains("malformed_user_name") && !text.contains("a\\0b") && !text.contains("al ice"));
}
