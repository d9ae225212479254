//! A route is data: a path template, what each method does there, and the facts the
//! server enforces before its handler runs (rate-limit class, HTTPS rule). A route
//! module's [`Api`] carries its routes with its OpenAPI fragment, so the router and the
//! document are fed by one list.

use crate::ratelimit::Class;
use actix_web::Resource;
use keyplane_domain::origin::EntryPoint;

/// One path and what each method does there. The methods are a plain function of the
/// resource, so a route can be sorted, listed and checked against the OpenAPI document,
/// which also says which methods the path allows.
#[derive(Clone)]
pub struct Route {
    path: String,
    methods: fn(Resource) -> Resource,
    class: Option<Class>,
    plain_http: bool,
    entry_point: Option<EntryPoint>,
}

impl Route {
    /// A route: any method `methods` does not handle gets `405` with `Allow`, in its
    /// surface's error shape.
    pub fn new(path: impl Into<String>, methods: fn(Resource) -> Resource) -> Self {
        Self { path: path.into(), methods, class: None, plain_http: false, entry_point: None }
    }

    /// Draws on the `class` budget of the rate limiter (instead of its surface's).
    #[must_use]
    pub fn limited(mut self, class: Class) -> Self {
        self.class = Some(class);
        self
    }

    /// Answers plain HTTP whatever `ssl_required` says (the health probes).
    #[must_use]
    pub fn over_plain_http(mut self) -> Self {
        self.plain_http = true;
        self
    }

    /// Audited under `entry_point` (instead of its surface's): the native API's
    /// sign-in and self-service routes, on a surface that is otherwise administration.
    #[must_use]
    pub fn entered_as(mut self, entry_point: EntryPoint) -> Self {
        self.entry_point = Some(entry_point);
        self
    }

    /// The path template.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The budget it draws on, when it says so itself.
    pub fn class(&self) -> Option<Class> {
        self.class
    }

    /// Whether it is exempt from the HTTPS rule.
    pub fn plain_http(&self) -> bool {
        self.plain_http
    }

    /// The entry point it is audited under, when it says so itself.
    pub fn entry_point(&self) -> Option<EntryPoint> {
        self.entry_point
    }

    /// The route's resource, its methods attached.
    pub(super) fn resource(&self) -> Resource {
        (self.methods)(actix_web::web::resource(self.path.as_str()))
    }
}

/// A route module: its routes and its part of the OpenAPI document, registered together.
pub struct Api {
    /// The module's OpenAPI fragment (its paths and schemas).
    pub doc: utoipa::openapi::OpenApi,
    /// The module's routes.
    pub routes: Vec<Route>,
}

/// How specific a path template is, for matching order: segment by segment, a literal
/// before a `{parameter}`. Sorting by it makes `/api/v1/users/auth` win over
/// `/api/v1/users/{user_name}` whatever order the modules list them in.
pub(super) fn specificity(path: &str) -> Vec<bool> {
    path.split('/').map(|segment| segment.starts_with('{')).collect()
}

/// The methods `path` is documented with, as an `Allow` value (`GET, HEAD, POST`; HEAD
/// wherever GET is). A path also routed without its trailing slash (InvestSuite's) reads
/// the documented one.
pub(super) fn documented_methods(doc: &utoipa::openapi::OpenApi, path: &str) -> Vec<&'static str> {
    let item = documented(doc, path);
    let Some(item) = item else { return Vec::new() };
    [
        ("GET", item.get.is_some()),
        ("HEAD", item.get.is_some()),
        ("POST", item.post.is_some()),
        ("PUT", item.put.is_some()),
        ("PATCH", item.patch.is_some()),
        ("DELETE", item.delete.is_some()),
    ]
    .into_iter()
    .filter_map(|(method, present)| present.then_some(method))
    .collect()
}

/// The documented path item of `path`, or of its trailing-slash form.
pub(super) fn documented<'a>(
    doc: &'a utoipa::openapi::OpenApi,
    path: &str,
) -> Option<&'a utoipa::openapi::path::PathItem> {
    doc.paths.paths.get(path).or_else(|| doc.paths.paths.get(&format!("{path}/")))
}
