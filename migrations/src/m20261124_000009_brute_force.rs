//! Brute-force lockout: per-scope policies (a tenant's id, or the nil UUID for the
//! platform) and failure counters per (scope, subject), where a subject is a case-folded
//! user name (known or not) or an API key id. Counting is one upsert, so replicas agree.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BruteForcePolicies {
    Table,
    ScopeKey,
    Enabled,
    MaxFailures,
    LockSeconds,
    MaxLockSeconds,
    FailureResetSeconds,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SignInFailures {
    Table,
    ScopeKey,
    Subject,
    Failures,
    LastFailureAt,
    LockedUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BruteForcePolicies::Table)
                    .col(ColumnDef::new(BruteForcePolicies::ScopeKey).uuid().not_null().primary_key())
                    .col(ColumnDef::new(BruteForcePolicies::Enabled).boolean().not_null())
                    .col(ColumnDef::new(BruteForcePolicies::MaxFailures).big_integer().not_null())
                    .col(ColumnDef::new(BruteForcePolicies::LockSeconds).big_integer().not_null())
                    .col(ColumnDef::new(BruteForcePolicies::MaxLockSeconds).big_integer().not_null())
                    .col(ColumnDef::new(BruteForcePolicies::FailureResetSeconds).big_integer().not_null())
                    .col(ColumnDef::new(BruteForcePolicies::UpdatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SignInFailures::Table)
                    .col(ColumnDef::new(SignInFailures::ScopeKey).uuid().not_null())
                    .col(ColumnDef::new(SignInFailures::Subject).string().not_null())
                    .col(ColumnDef::new(SignInFailures::Failures).big_integer().not_null())
                    .col(ColumnDef::new(SignInFailures::LastFailureAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(SignInFailures::LockedUntil).timestamp_with_time_zone().null())
                    .primary_key(Index::create().col(SignInFailures::ScopeKey).col(SignInFailures::Subject))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sign_in_failures_last_failure_at")
                    .table(SignInFailures::Table)
                    .col(SignInFailures::LastFailureAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(SignInFailures::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(BruteForcePolicies::Table).to_owned()).await
    }
}
