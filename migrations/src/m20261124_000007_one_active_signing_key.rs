//! At most one active (non-retired) signing key per scope, enforced by the database: a
//! unique partial index over the scope, so that replicas generating a scope's first key
//! at once cannot both store one. The platform's keys have a null `tenant_id`, and nulls
//! never collide in a unique index, so the index is on `COALESCE(tenant_id, <nil UUID>)`
//! (no tenant has the nil id). Scopes that already hold several active keys keep the
//! newest; the others are retired now and stay published and verifying as long as a
//! token they signed may live (the tenant's longest token lifetime; the platform's
//! twelve hours).

use chrono::{Duration, SubsecRound, Utc};
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

const INDEX: &str = "uq_signing_keys_one_active_per_scope";
/// Longest lifetime of a platform token (the platform's session lifetime).
const PLATFORM_RETENTION: Duration = Duration::hours(12);

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Id,
    TenantId,
    CreatedAt,
    RetiredAt,
    RetainUntil,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    AccessTokenTtlSecs,
    SessionTtlSecs,
}

/// Retires every active key but the newest of each scope; returns how many.
async fn retire_duplicates(manager: &SchemaManager<'_>) -> Result<usize, DbErr> {
    let db = manager.get_connection();
    let backend = db.get_database_backend();
    let select = Query::select()
        .column((SigningKeys::Table, SigningKeys::Id))
        .column((SigningKeys::Table, SigningKeys::TenantId))
        .column((Tenants::Table, Tenants::AccessTokenTtlSecs))
        .column((Tenants::Table, Tenants::SessionTtlSecs))
        .from(SigningKeys::Table)
        .left_join(
            Tenants::Table,
            Expr::col((Tenants::Table, Tenants::Id)).equals((SigningKeys::Table, SigningKeys::TenantId)),
        )
        .and_where(Expr::col((SigningKeys::Table, SigningKeys::RetiredAt)).is_null())
        .order_by((SigningKeys::Table, SigningKeys::CreatedAt), Order::Desc)
        .order_by((SigningKeys::Table, SigningKeys::Id), Order::Desc)
        .to_owned();
    let rows = db.query_all_raw(backend.build(&select)).await?;
    let now = Utc::now().trunc_subsecs(6);
    let mut newest_seen: HashSet<Option<Uuid>> = HashSet::new();
    let mut retire: HashMap<Uuid, Duration> = HashMap::new();
    for row in rows {
        let id: Uuid = row.try_get("", "id")?;
        let tenant: Option<Uuid> = row.try_get("", "tenant_id")?;
        if newest_seen.insert(tenant) {
            continue;
        }
        let retention = match tenant {
            None => PLATFORM_RETENTION,
            Some(_) => {
                let access: Option<i64> = row.try_get("", "access_token_ttl_secs")?;
                let session: Option<i64> = row.try_get("", "session_ttl_secs")?;
                Duration::seconds(std::cmp::max(access.unwrap_or(0), session.unwrap_or(0)))
            }
        };
        retire.insert(id, retention);
    }
    for (id, retention) in &retire {
        let update = Query::update()
            .table(SigningKeys::Table)
            .value(SigningKeys::RetiredAt, now)
            .value(SigningKeys::RetainUntil, now + *retention)
            .and_where(Expr::col(SigningKeys::Id).eq(*id))
            .to_owned();
        manager.exec_stmt(update).await?;
    }
    Ok(retire.len())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        retire_duplicates(manager).await?;
        let sql = format!(
            "CREATE UNIQUE INDEX {INDEX} ON signing_keys ((COALESCE(tenant_id, '{}'))) WHERE retired_at IS NULL",
            Uuid::nil()
        );
        manager.get_connection().execute_raw(Statement::from_string(manager.get_database_backend(), sql)).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name(INDEX).table(SigningKeys::Table).to_owned()).await
    }
}
