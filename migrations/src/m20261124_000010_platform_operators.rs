//! More than one operator: their API keys (the digest of the secret only; a key dies
//! with its owner), and a guard row that serializes every change able to remove a
//! `platform_admin`, so that replicas never leave the platform without one.

use sea_orm_migration::prelude::*;

/// The table of migration 1, named here so that a released migration stays untouched.
#[derive(DeriveIden)]
enum PlatformUsers {
    Table,
    Id,
}

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PlatformApiKeys {
    Table,
    Id,
    OwnerId,
    PublicId,
    SecretDigest,
    Description,
    Roles,
    CreatedAt,
    ExpiresAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum PlatformGuards {
    Table,
    Name,
    Version,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PlatformApiKeys::Table)
                    .col(ColumnDef::new(PlatformApiKeys::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(PlatformApiKeys::OwnerId).uuid().not_null())
                    .col(ColumnDef::new(PlatformApiKeys::PublicId).string().not_null().unique_key())
                    .col(ColumnDef::new(PlatformApiKeys::SecretDigest).binary().not_null())
                    .col(ColumnDef::new(PlatformApiKeys::Description).string().not_null())
                    .col(ColumnDef::new(PlatformApiKeys::Roles).json().not_null())
                    .col(ColumnDef::new(PlatformApiKeys::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(PlatformApiKeys::ExpiresAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(PlatformApiKeys::LastUsedAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(PlatformApiKeys::RevokedAt).timestamp_with_time_zone().null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_platform_api_keys_owner")
                            .from(PlatformApiKeys::Table, PlatformApiKeys::OwnerId)
                            .to(PlatformUsers::Table, PlatformUsers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_platform_api_keys_owner")
                    .table(PlatformApiKeys::Table)
                    .col(PlatformApiKeys::OwnerId)
                    .col(PlatformApiKeys::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PlatformGuards::Table)
                    .col(ColumnDef::new(PlatformGuards::Name).string().not_null().primary_key())
                    .col(ColumnDef::new(PlatformGuards::Version).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        let seed = Query::insert()
            .into_table(PlatformGuards::Table)
            .columns([PlatformGuards::Name, PlatformGuards::Version])
            .values_panic(["admins".into(), 0i64.into()])
            .to_owned();
        manager.exec_stmt(seed).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(PlatformGuards::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(PlatformApiKeys::Table).to_owned()).await
    }
}
