//! Signing keys, per tenant (or for the platform when `tenant_id` is null). The private
//! key is sealed (AES-256-GCM) under the operator's master key.

use super::m20261123_000002_tenants::Tenants;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Id,
    TenantId,
    Kid,
    Algorithm,
    PublicJwk,
    SealedPrivate,
    CreatedAt,
    RetiredAt,
    RetainUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .col(ColumnDef::new(SigningKeys::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(SigningKeys::TenantId).uuid().null())
                    .col(ColumnDef::new(SigningKeys::Kid).string().not_null().unique_key())
                    .col(ColumnDef::new(SigningKeys::Algorithm).string().not_null())
                    .col(ColumnDef::new(SigningKeys::PublicJwk).json().not_null())
                    .col(ColumnDef::new(SigningKeys::SealedPrivate).binary().not_null())
                    .col(ColumnDef::new(SigningKeys::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(SigningKeys::RetiredAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(SigningKeys::RetainUntil).timestamp_with_time_zone().null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_signing_keys_tenant")
                            .from(SigningKeys::Table, SigningKeys::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_signing_keys_tenant")
                    .table(SigningKeys::Table)
                    .col(SigningKeys::TenantId)
                    .col(SigningKeys::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(SigningKeys::Table).to_owned()).await
    }
}
