//! Lockout per client address: a subject's failures are counted per (subject, address)
//! towards `max_failures`, and per subject towards `max_failures_total`, the new policy
//! field (default 100, NIST SP 800-63B §5.2.2). The address counters live in
//! `sign_in_failures` beside the subject's, under their own subject key, so nothing else
//! changes there.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The table of migration 9, named here so that a released migration stays untouched.
#[derive(DeriveIden)]
enum BruteForcePolicies {
    Table,
    MaxFailuresTotal,
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
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
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
