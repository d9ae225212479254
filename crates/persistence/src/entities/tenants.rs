//! `tenants`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub slug: String,
    pub name: String,
    pub status: String,
    pub authentication_cluster: Option<String>,
    pub access_token_ttl_secs: i64,
    pub session_ttl_secs: i64,
    pub refresh_reuse_grace_secs: i64,
    pub signing_algorithm: String,
    pub access_token_renewal: bool,
    pub access_token_renewal_max_secs: i64,
    pub password_grant: bool,
    pub personal_key_lifetime_secs: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
