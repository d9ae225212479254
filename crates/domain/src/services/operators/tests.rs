//! The operator service over in-memory ports and a fixed clock: no HTTP, no database.

use super::*;
use crate::audit::Actor;
use crate::origin::{EntryPoint, RequestContext};
use crate::role::{PLATFORM_ADMIN, PLATFORM_VIEWER};
use crate::testing::{
    FixedClock, InMemoryAudit, InMemoryOperators, InMemoryPlatformKeys, InMemorySessions, PlainHasher,
};

struct Fixture {
    svc: OperatorService,
    audit: Arc<InMemoryAudit>,
    sessions: Arc<InMemorySessions>,
    clock: Arc<FixedClock>,
}

fn fixture() -> Fixture {
    let audit = Arc::new(InMemoryAudit::default());
    let sessions = Arc::new(InMemorySessions::default());
    let clock = Arc::new(FixedClock::default());
    let svc = OperatorService::new(
        Arc::new(InMemoryOperators::with_audit(audit.clone())),
        Arc::new(InMemoryPlatformKeys::with_audit(audit.clone())),
        sessions.clone(),
        Arc::new(PlainHasher),
        clock.clone(),
    );
    Fixture { svc, audit, sessions, clock }
}

fn by() -> Initiator {
    Initiator { actor: Actor::anonymous(), request: RequestContext::new(EntryPoint::Admin) }
}

fn roles(names: &[&str]) -> Roles {
    Roles::parse_platform("roles", &names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap()
}

impl Fixture {
    async fn operator(&self, name: &str, r: &[&str]) -> PlatformUser {
        let new = NewOperator {
            user_name: UserName::parse(name).unwrap(),
            password: Password::parse_new("correct horse".into()).unwrap(),
            roles: roles(r),
            enabled: true,
        };
        self.svc.create(new, &by()).await.unwrap()
    }

    async fn revoked(&self, id: crate::ids::SessionId) -> bool {
        self.sessions.find(Scope::Platform, id).await.unwrap().unwrap().revoked_at.is_some()
    }
}

#[tokio::test]
async fn the_last_enabled_admin_can_be_neither_demoted_disabled_nor_deleted() {
    let f = fixture();
    f.operator("root", &[PLATFORM_ADMIN]).await;
    f.operator("watcher", &[PLATFORM_VIEWER]).await;
    let demote = OperatorPatch { roles: Some(roles(&[PLATFORM_VIEWER])), ..Default::default() };
    let disable = OperatorPatch { enabled: Some(false), ..Default::default() };
    assert!(matches!(f.svc.update("root", demote.clone(), &by()).await, Err(OperatorError::LastAdmin)));
    assert!(matches!(f.svc.update("ROOT", disable.clone(), &by()).await, Err(OperatorError::LastAdmin)));
    assert!(matches!(f.svc.delete("root", &by()).await, Err(OperatorError::LastAdmin)));
    assert!(f.svc.get("root").await.unwrap().is_active_admin(), "nothing was written");
    // With a second admin, the first may go.
    let promote = OperatorPatch { roles: Some(roles(&[PLATFORM_ADMIN, PLATFORM_VIEWER])), ..Default::default() };
    f.svc.update("watcher", promote, &by()).await.unwrap();
    let root = f.svc.update("root", demote, &by()).await.unwrap();
    assert_eq!(root.roles, roles(&[PLATFORM_VIEWER]));
    assert!(matches!(f.svc.delete("watcher", &by()).await, Err(OperatorError::LastAdmin)));
    f.svc.delete("root", &by()).await.unwrap();
    assert!(matches!(f.svc.get("root").await, Err(OperatorError::NotFound)));
    assert!(matches!(f.svc.update("watcher", disable, &by()).await, Err(OperatorError::LastAdmin)));
}

#[tokio::test]
async fn names_are_unique_without_case_and_found_by_name_or_id() {
    let f = fixture();
    let root = f.operator("Root", &[PLATFORM_ADMIN]).await;
    let again = NewOperator {
        user_name: UserName::parse("rOOT").unwrap(),
        password: Password::parse_new("correct horse".into()).unwrap(),
        roles: roles(&[PLATFORM_VIEWER]),
        enabled: true,
    };
    assert!(matches!(f.svc.create(again, &by()).await, Err(OperatorError::NameTaken)));
    assert_eq!(f.svc.get(&root.id.to_string()).await.unwrap().id, root.id);
    assert_eq!(f.svc.get("root").await.unwrap().user_name, "Root");
    // A name shaped like another operator's id does not stand in for it.
    let impostor = f.operator(&root.id.to_string(), &[PLATFORM_VIEWER]).await;
    assert_eq!(f.svc.get(&root.id.to_string()).await.unwrap().id, root.id);
    assert_eq!(f.svc.get(&impostor.id.to_string()).await.unwrap().id, impostor.id);
}

#[tokio::test]
async fn disabling_or_a_new_password_ends_sessions_and_everything_is_audited() {
    let f = fixture();
    f.operator("root", &[PLATFORM_ADMIN]).await;
    let ops = f.operator("ops", &[PLATFORM_ADMIN]).await;
    let subject = SessionSubject::PlatformUser(ops.id);
    let first = f.sessions.open(Scope::Platform, subject, f.clock.0);
    let password =
        OperatorPatch { password: Some(Password::parse_new("another horse".into()).unwrap()), ..Default::default() };
    f.svc.update("ops", password, &by()).await.unwrap();
    assert!(f.revoked(first).await, "a new password ends sessions");
    let second = f.sessions.open(Scope::Platform, subject, f.clock.0);
    f.svc.update("ops", OperatorPatch { enabled: Some(false), ..Default::default() }, &by()).await.unwrap();
    assert!(f.revoked(second).await, "disabling ends sessions");
    let actions: Vec<String> = f.audit.events().into_iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        ["user.created", "user.created", "user.password_changed", "user.disabled"].map(String::from).to_vec()
    );
}

#[tokio::test]
async fn keys_hold_at_most_their_owners_roles() {
    let f = fixture();
    let root = f.operator("root", &[PLATFORM_ADMIN, PLATFORM_VIEWER]).await;
    let watcher = f.operator("watcher", &[PLATFORM_VIEWER]).await;
    let new = |r: Option<Roles>| NewPlatformKey { description: KeyDescription::default(), roles: r, expires_at: None };
    let all = f.svc.create_key(&root, new(None), &by()).await.unwrap();
    assert_eq!(all.key.roles, root.roles);
    assert!(all.full_text.starts_with("kpp_"));
    let read_only = f.svc.create_key(&root, new(Some(roles(&[PLATFORM_VIEWER]))), &by()).await.unwrap();
    assert_eq!(read_only.key.roles, roles(&[PLATFORM_VIEWER]));
    let admin_only = f.operator("boss", &[PLATFORM_ADMIN]).await;
    let viewing = f.svc.create_key(&admin_only, new(Some(roles(&[PLATFORM_VIEWER]))), &by()).await.unwrap();
    assert_eq!(viewing.key.granted(&admin_only.roles), roles(&[PLATFORM_VIEWER]), "admin includes viewer");
    let admin_key = f.svc.create_key(&admin_only, new(None), &by()).await.unwrap();
    assert_eq!(admin_key.key.granted(&admin_only.roles), roles(&[PLATFORM_ADMIN, PLATFORM_VIEWER]));
    let demoted = roles(&[PLATFORM_VIEWER]);
    assert_eq!(admin_key.key.granted(&demoted), demoted, "a demoted owner's admin key reads, and no more");
    assert!(admin_key.key.granted(&Roles::default()).is_empty());
    let escalate = f.svc.create_key(&watcher, new(Some(roles(&[PLATFORM_ADMIN]))), &by()).await;
    assert!(matches!(escalate, Err(OperatorError::Invalid(i)) if i.field == "roles"));
    let past = NewPlatformKey { expires_at: Some(f.clock.0), ..new(None) };
    assert!(matches!(f.svc.create_key(&root, past, &by()).await, Err(OperatorError::Invalid(_))));
    // Listing, finding and revoking stay with the owner.
    let listed = f.svc.list_keys(&root, PageRequest::default()).await.unwrap();
    assert_eq!(listed.total, 2);
    let id = all.key.public_id.to_string();
    assert!(matches!(f.svc.get_key(&watcher, &id).await, Err(OperatorError::KeyNotFound)));
    assert!(matches!(f.svc.revoke_key(&watcher, &id, &by()).await, Err(OperatorError::KeyNotFound)));
    f.svc.revoke_key(&root, &id, &by()).await.unwrap();
    assert!(matches!(f.svc.revoke_key(&root, &id, &by()).await, Err(OperatorError::KeyNotFound)));
    assert_eq!(f.svc.list_keys(&root, PageRequest::default()).await.unwrap().total, 1);
}
