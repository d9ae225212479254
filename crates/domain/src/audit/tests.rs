//! Stable names, filter validation and event construction of the audit trail.

use super::*;
use crate::origin::{parse_entry_point, MAX_USER_AGENT_CHARS};

#[test]
fn names_round_trip() {
    for kind in [ActorKind::User, ActorKind::PlatformUser, ActorKind::ApiKey, ActorKind::Anonymous] {
        assert_eq!(ActorKind::parse(kind.as_str()), Some(kind));
    }
    for o in [Outcome::Success, Outcome::Failure] {
        assert_eq!(Outcome::parse(o.as_str()), Some(o));
    }
    for e in [EntryPoint::Native, EntryPoint::Sensu, EntryPoint::Tenovos, EntryPoint::InvestSuite] {
        assert_eq!(parse_entry_point(e.as_str()), Some(e));
    }
    assert_eq!(parse_entry_point("oauth2"), Some(EntryPoint::OAuth2));
    assert_eq!(parse_entry_point("admin"), Some(EntryPoint::Admin));
    assert_eq!(parse_entry_point("x"), None);
}

#[test]
fn actions_are_unique_dotted_names() {
    let mut seen = std::collections::BTreeSet::new();
    for a in action::ALL {
        assert!(seen.insert(*a), "{a} twice");
        assert!(a.contains('.') && a.bytes().all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_'), "{a}");
    }
}

#[test]
fn filters_are_validated_and_name_the_field() {
    let ok = AuditFilter::parse(Some("user.sign_in"), Some(" alice "), Some("failure"), None, None).unwrap();
    assert_eq!(ok.action_prefix.as_deref(), Some("user.sign_in"));
    assert_eq!(ok.actor.as_deref(), Some("alice"));
    assert_eq!(ok.outcome, Some(Outcome::Failure));
    for (action, field) in [("User", "action"), ("a%", "action"), ("", "action")] {
        assert_eq!(AuditFilter::parse(Some(action), None, None, None, None).unwrap_err().field, field);
    }
    assert_eq!(AuditFilter::parse(None, Some(" "), None, None, None).unwrap_err().field, "actor");
    assert_eq!(AuditFilter::parse(None, None, Some("ok"), None, None).unwrap_err().field, "outcome");
    let now = Utc::now();
    let before = now - chrono::Duration::seconds(1);
    assert_eq!(AuditFilter::parse(None, None, None, Some(now), Some(before)).unwrap_err().field, "until");
}

#[test]
fn events_carry_the_request_and_cut_long_headers() {
    let request =
        RequestContext::new(EntryPoint::Admin).with_user_agent(Some(&"x".repeat(1000))).with_request_id(Some("req-1"));
    let initiator = Initiator { actor: Actor::anonymous(), request };
    let e = initiator.event(None, action::TENANT_CREATED, Utc::now()).with("slug", "acme");
    assert_eq!(e.user_agent.as_ref().map(String::len), Some(MAX_USER_AGENT_CHARS));
    assert_eq!(e.request_id.as_deref(), Some("req-1"));
    assert_eq!(e.entry_point, EntryPoint::Admin);
    assert_eq!(e.outcome, Outcome::Success);
    assert_eq!(e.details.to_value(), serde_json::json!({"slug": "acme"}));
}

/// The actor of an administrative event is the verified principal itself: kind, id and
/// name as authentication established them, nothing read again.
#[test]
fn initiators_carry_the_principal_as_verified() {
    use crate::ids::{ApiKeyId, TenantId, UserId};
    use crate::principal::{Principal, Subject};
    use crate::role::{Roles, TENANT_ADMIN};
    let key = ApiKeyId::generate();
    let principal = Principal {
        subject: Subject::ApiKey { key, owner: Some(UserId::generate()) },
        name: "kp_0a1b2c".into(),
        tenant: Some(TenantId::generate()),
        roles: Roles::single(TENANT_ADMIN),
        session: None,
        signed_in_at: None,
    };
    let by = Initiator::new(&principal, RequestContext::new(EntryPoint::Admin));
    assert_eq!(by.actor, Actor { kind: ActorKind::ApiKey, id: Some(key.as_uuid()), name: Some("kp_0a1b2c".into()) });
    let user = UserId::generate();
    let principal = Principal { subject: Subject::User(user), name: "alice".into(), ..principal };
    let by = Initiator::new(&principal, RequestContext::new(EntryPoint::Admin));
    assert_eq!(
        (by.actor.kind, by.actor.id, by.actor.name.as_deref()),
        (ActorKind::User, Some(user.as_uuid()), Some("alice"))
    );
}

#[test]
fn actor_filters_refuse_control_characters() {
    for actor in ["a\u{0}b", "\u{7}", "x\u{1b}[31m"] {
        let e = AuditFilter::parse(None, Some(actor), None, None, None).unwrap_err();
        assert_eq!(e.field, "actor", "{actor:?}");
    }
    assert!(AuditFilter::parse(None, Some("alice@example.com"), None, None, None).is_ok());
}
