//! Tenant users. The name is unique per tenant in its case-folded form.

use super::m20261123_000002_tenants::Tenants;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum Users {
    Table,
    Id,
    TenantId,
    UserName,
    UserNameFolded,
    Email,
    FullName,
    Roles,
    Enabled,
    Metadata,
    PasswordHash,
    CreatedAt,
    UpdatedAt,
    LastLoginAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(ColumnDef::new(Users::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Users::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Users::UserName).string().not_null())
                    .col(ColumnDef::new(Users::UserNameFolded).string().not_null())
                    .col(ColumnDef::new(Users::Email).string().null())
                    .col(ColumnDef::new(Users::FullName).string().null())
                    .col(ColumnDef::new(Users::Roles).json().not_null())
                    .col(ColumnDef::new(Users::Enabled).boolean().not_null())
                    .col(ColumnDef::new(Users::Metadata).json().not_null())
                    .col(ColumnDef::new(Users::PasswordHash).string().not_null())
                    .col(ColumnDef::new(Users::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Users::UpdatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Users::LastLoginAt).timestamp_with_time_zone().null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_users_tenant")
                            .from(Users::Table, Users::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_users_tenant_name")
                    .table(Users::Table)
                    .col(Users::TenantId)
                    .col(Users::UserNameFolded)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Users::Table).to_owned()).await
    }
}
