//! `brute_force_policies`: a scope's lockout policy (the nil UUID is the platform).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "brute_force_policies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub scope_key: Uuid,
    pub enabled: bool,
    pub max_failures: i64,
    pub lock_seconds: i64,
    pub max_lock_seconds: i64,
    pub failure_reset_seconds: i64,
    pub max_failures_total: i64,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
