//! A tenant's default lifetime of users' personal API keys (90 days): a key that never
//! expires is made only when its creator asks for one explicitly.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The table of migration 2, named here so that a released migration stays untouched.
#[derive(DeriveIden)]
enum Tenants {
    Table,
    PersonalKeyLifetimeSecs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let column =
            ColumnDef::new(Tenants::PersonalKeyLifetimeSecs).big_integer().not_null().default(7_776_000).to_owned();
        manager.alter_table(Table::alter().table(Tenants::Table).add_column(column).to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Tenants::Table).drop_column(Tenants::PersonalKeyLifetimeSecs).to_owned())
            .await
    }
}
