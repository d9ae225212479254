//! Response and parameter shapes shared by several routes.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// An empty JSON object, returned by deletions and sign-outs (as ECE does).
#[derive(Debug, Serialize, ToSchema)]
pub struct Empty {}

/// Offset pagination parameters, as the `PageQuery` extractor deserialises them.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Index of the first item (default 0).
    #[param(minimum = 0)]
    pub from: Option<i64>,
    /// Items per page (default 20, at most 100).
    #[param(minimum = 1, maximum = 100)]
    pub size: Option<i64>,
}

/// Where a page sits in the whole list.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageInfo {
    /// Index of the first item returned.
    pub from: u64,
    /// The page size asked for.
    pub size: u64,
    /// How many items match in all.
    pub total: u64,
}

impl<T> From<&keyplane_domain::page::Page<T>> for PageInfo {
    fn from(page: &keyplane_domain::page::Page<T>) -> Self {
        Self { from: page.request.from(), size: page.request.size(), total: page.total }
    }
}
