//! A tenant's grants: whether an access token may renew itself (ECE's `_refresh`) and
//! for how long a chain of such renewals may last, and whether the OAuth password grant
//! is offered at all. Existing tenants keep what they had (renewal on, password grant
//! on), with the new 12-hour bound on renewal chains.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The table of migration 2, named here so that a released migration stays untouched.
#[derive(DeriveIden)]
enum Tenants {
    Table,
    AccessTokenRenewal,
    AccessTokenRenewalMaxSecs,
    PasswordGrant,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        let columns = [
            ColumnDef::new(Tenants::AccessTokenRenewal).boolean().not_null().default(true).to_owned(),
            ColumnDef::new(Tenants::AccessTokenRenewalMaxSecs).big_integer().not_null().default(43_200).to_owned(),
            ColumnDef::new(Tenants::PasswordGrant).boolean().not_null().default(true).to_owned(),
        ];
        for mut column in columns {
            manager.alter_table(Table::alter().table(Tenants::Table).add_column(&mut column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Tenants::AccessTokenRenewal, Tenants::AccessTokenRenewalMaxSecs, Tenants::PasswordGrant] {
            manager.alter_table(Table::alter().table(Tenants::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
