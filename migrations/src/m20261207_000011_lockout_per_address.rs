//! Lockout per client address, with attempts reserved before they are verified: a
//! subject's failures are counted per (subject, address) towards `max_failures`, and per
//! subject towards `max_failures_total`, the new policy field (default 100, NIST SP
//! 800-63B §5.2.2). The address counters live in `sign_in_failures` beside the
//! subject's, under their own subject key; each counter also holds the attempts being
//! verified (`pending`, as of `pending_at`), which count towards its limit until settled.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The table of migration 9, named here so that a released migration stays untouched.
#[derive(DeriveIden)]
enum BruteForcePolicies {
    Table,
    MaxFailuresTotal,
}

/// The table of migration 9, named here so that a released migration stays untouched.
#[derive(DeriveIden)]
enum SignInFailures {
    Table,
    Pending,
    PendingAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(BruteForcePolicies::Table)
                    .add_column(
                        ColumnDef::new(BruteForcePolicies::MaxFailuresTotal).big_integer().not_null().default(100),
                    )
                    .to_owned(),
            )
            .await?;
        // One column per statement: SQLite adds one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(SignInFailures::Table)
                    .add_column(ColumnDef::new(SignInFailures::Pending).big_integer().not_null().default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(SignInFailures::Table)
                    .add_column(ColumnDef::new(SignInFailures::PendingAt).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [SignInFailures::Pending, SignInFailures::PendingAt] {
            manager.alter_table(Table::alter().table(SignInFailures::Table).drop_column(column).to_owned()).await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(BruteForcePolicies::Table)
                    .drop_column(BruteForcePolicies::MaxFailuresTotal)
                    .to_owned(),
            )
            .await
    }
}
