//! `sessions`: sign-in sessions and their refresh rotation state.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub subject_kind: String,
    pub subject_id: Uuid,
    pub subject_name: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub refresh_jti: Option<String>,
    pub previous_refresh_jti: Option<String>,
    pub rotated_at: Option<DateTimeUtc>,
    pub refresh_count: i64,
    pub revoked_at: Option<DateTimeUtc>,
    pub revoked_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
