//! Repositories: the domain's storage ports over sea-orm.

mod api_keys;
mod audit;
mod lockout;
mod platform_keys;
mod platform_users;
mod sessions;
mod signing_keys;
mod tenants;
mod users;

pub use api_keys::SqlApiKeys;
pub use audit::SqlAuditLog;
pub use lockout::SqlLockout;
pub use platform_keys::SqlPlatformKeys;
pub use platform_users::SqlPlatformUsers;
pub use sessions::SqlSessions;
pub use signing_keys::SqlSigningKeys;
pub use tenants::SqlTenants;
pub use users::SqlUsers;

use keyplane_domain::error::StorageError;
use keyplane_domain::page::{Page, PageRequest};
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait, QuerySelect, Select};

/// Runs `select` for one page and counts all its matches.
async fn fetch_page<E, C, T>(
    db: &C,
    select: Select<E>,
    page: PageRequest,
    convert: impl Fn(E::Model) -> Result<T, StorageError>,
) -> Result<Page<T>, StorageError>
where
    E: EntityTrait,
    E::Model: Sync,
    C: ConnectionTrait,
{
    let total = select.clone().count(db).await.map_err(crate::convert::storage)?;
    let rows = select.offset(page.from()).limit(page.size()).all(db).await.map_err(crate::convert::storage)?;
    let items = rows.into_iter().map(convert).collect::<Result<_, _>>()?;
    Ok(Page { items, total, request: page })
}
