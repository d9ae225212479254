//! One page of a query, with the count of all its matches: how every repository lists.

use keyplane_domain::error::StorageError;
use keyplane_domain::page::{Page, PageRequest};
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait, QuerySelect, Select};

/// Runs `select` for one page and counts all its matches.
pub(super) async fn fetch_page<E, C, T>(
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
