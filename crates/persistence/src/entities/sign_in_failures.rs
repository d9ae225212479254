//! `sign_in_failures`: failed sign-ins counted per (scope, subject), the lock, and the
//! attempts being verified.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sign_in_failures")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub scope_key: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub subject: String,
    pub failures: i64,
    pub last_failure_at: DateTimeUtc,
    pub locked_until: Option<DateTimeUtc>,
    pub pending: i64,
    pub pending_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
