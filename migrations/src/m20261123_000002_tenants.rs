//! Tenants.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum Tenants {
    Table,
    Id,
    Slug,
    Name,
    Status,
    AuthenticationCluster,
    AccessTokenTtlSecs,
    SessionTtlSecs,
    RefreshReuseGraceSecs,
    SigningAlgorithm,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tenants::Table)
                    .col(ColumnDef::new(Tenants::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Tenants::Slug).string().not_null().unique_key())
                    .col(ColumnDef::new(Tenants::Name).string().not_null())
                    .col(ColumnDef::new(Tenants::Status).string().not_null())
                    .col(ColumnDef::new(Tenants::AuthenticationCluster).string().null())
                    .col(ColumnDef::new(Tenants::AccessTokenTtlSecs).big_integer().not_null())
                    .col(ColumnDef::new(Tenants::SessionTtlSecs).big_integer().not_null())
                    .col(ColumnDef::new(Tenants::RefreshReuseGraceSecs).big_integer().not_null())
                    .col(ColumnDef::new(Tenants::SigningAlgorithm).string().not_null())
                    .col(ColumnDef::new(Tenants::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Tenants::UpdatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_tenants_created")
                    .table(Tenants::Table)
                    .col(Tenants::CreatedAt)
                    .col(Tenants::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Tenants::Table).to_owned()).await
    }
}
