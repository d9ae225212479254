//! Operator accounts.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PlatformUsers {
    Table,
    Id,
    UserName,
    UserNameFolded,
    PasswordHash,
    Roles,
    Enabled,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PlatformUsers::Table)
                    .col(ColumnDef::new(PlatformUsers::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(PlatformUsers::UserName).string().not_null())
                    .col(ColumnDef::new(PlatformUsers::UserNameFolded).string().not_null().unique_key())
                    .col(ColumnDef::new(PlatformUsers::PasswordHash).string().not_null())
                    .col(ColumnDef::new(PlatformUsers::Roles).json().not_null())
                    .col(ColumnDef::new(PlatformUsers::Enabled).boolean().not_null())
                    .col(ColumnDef::new(PlatformUsers::CreatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(PlatformUsers::Table).to_owned()).await
    }
}
