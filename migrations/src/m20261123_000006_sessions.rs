//! Sessions: one per sign-in, with the refresh-token rotation state. Rotation is one
//! conditional UPDATE on `refresh_jti`, which makes concurrent refreshes of one token
//! produce exactly one winner.

use super::m20261123_000002_tenants::Tenants;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    TenantId,
    SubjectKind,
    SubjectId,
    SubjectName,
    CreatedAt,
    ExpiresAt,
    RefreshJti,
    PreviousRefreshJti,
    RotatedAt,
    RefreshCount,
    RevokedAt,
    RevokedReason,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(ColumnDef::new(Sessions::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Sessions::TenantId).uuid().null())
                    .col(ColumnDef::new(Sessions::SubjectKind).string().not_null())
                    .col(ColumnDef::new(Sessions::SubjectId).uuid().not_null())
                    .col(ColumnDef::new(Sessions::SubjectName).string().not_null())
                    .col(ColumnDef::new(Sessions::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Sessions::ExpiresAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Sessions::RefreshJti).string().null())
                    .col(ColumnDef::new(Sessions::PreviousRefreshJti).string().null())
                    .col(ColumnDef::new(Sessions::RotatedAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(Sessions::RefreshCount).big_integer().not_null())
                    .col(ColumnDef::new(Sessions::RevokedAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(Sessions::RevokedReason).string().null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_sessions_tenant")
                            .from(Sessions::Table, Sessions::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sessions_subject")
                    .table(Sessions::Table)
                    .col(Sessions::TenantId)
                    .col(Sessions::SubjectId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Sessions::Table).to_owned()).await
    }
}
