//! Indexes for purging ended sessions: the purge deletes sessions whose `expires_at` or
//! `revoked_at` lies before a cutoff, in small batches, and must find them without
//! scanning the table.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Sessions {
    Table,
    ExpiresAt,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_sessions_expires_at")
                    .table(Sessions::Table)
                    .col(Sessions::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sessions_revoked_at")
                    .table(Sessions::Table)
                    .col(Sessions::RevokedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("idx_sessions_revoked_at").table(Sessions::Table).to_owned()).await?;
        manager.drop_index(Index::drop().name("idx_sessions_expires_at").table(Sessions::Table).to_owned()).await
    }
}
