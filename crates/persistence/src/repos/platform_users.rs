//! [`PlatformUserRepository`] over the `platform_users` table.

use crate::convert::{classify, roles_from_json, roles_to_json, storage, WriteFailure};
use crate::entities::platform_users;
use crate::Database;
use async_trait::async_trait;
use keyplane_domain::error::StorageError;
use keyplane_domain::ids::PlatformUserId;
use keyplane_domain::password::PasswordHash;
use keyplane_domain::platform::{PlatformUser, PlatformUserRepository};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

/// Operator accounts in SQL.
#[derive(Clone)]
pub struct SqlPlatformUsers {
    db: Database,
}

impl SqlPlatformUsers {
    /// Wraps a connection pool.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn from_row(r: platform_users::Model) -> PlatformUser {
    PlatformUser {
        id: PlatformUserId::from_uuid(r.id),
        user_name: r.user_name,
        password_hash: PasswordHash::from_phc(r.password_hash),
        roles: roles_from_json(r.roles),
        enabled: r.enabled,
        created_at: r.created_at,
    }
}

#[async_trait]
impl PlatformUserRepository for SqlPlatformUsers {
    async fn insert_if_absent(&self, user: &PlatformUser) -> Result<bool, StorageError> {
        let model = platform_users::ActiveModel {
            id: Set(user.id.as_uuid()),
            user_name: Set(user.user_name.clone()),
            user_name_folded: Set(user.user_name.to_lowercase()),
            password_hash: Set(user.password_hash.as_phc().to_owned()),
            roles: Set(roles_to_json(&user.roles)),
            enabled: Set(user.enabled),
            created_at: Set(user.created_at),
        };
        match platform_users::Entity::insert(model).exec_without_returning(&self.db).await {
            Ok(_) => Ok(true),
            Err(e) => match classify(e) {
                WriteFailure::Unique => Ok(false),
                WriteFailure::ForeignKey => Err(StorageError::new("unexpected foreign key on platform_users")),
                WriteFailure::Other(s) => Err(s),
            },
        }
    }

    async fn find_by_name(&self, name: &str) -> Result<Option<PlatformUser>, StorageError> {
        let row = platform_users::Entity::find()
            .filter(platform_users::Column::UserNameFolded.eq(name.to_lowercase()))
            .one(&self.db)
            .await
            .map_err(storage)?;
        Ok(row.map(from_row))
    }

    async fn find_by_id(&self, id: PlatformUserId) -> Result<Option<PlatformUser>, StorageError> {
        let row = platform_users::Entity::find_by_id(id.as_uuid()).one(&self.db).await.map_err(storage)?;
        Ok(row.map(from_row))
    }

    async fn set_password(&self, id: PlatformUserId, hash: &PasswordHash) -> Result<bool, StorageError> {
        let changed = platform_users::Entity::update_many()
            .col_expr(platform_users::Column::PasswordHash, sea_orm::sea_query::Expr::value(hash.as_phc().to_owned()))
            .filter(platform_users::Column::Id.eq(id.as_uuid()))
            .exec(&self.db)
            .await
            .map_err(storage)?;
        Ok(changed.rows_affected == 1)
    }

    async fn count(&self) -> Result<u64, StorageError> {
        platform_users::Entity::find().count(&self.db).await.map_err(storage)
    }
}
