//! Request extractors whose failures all go through the native error envelope: JSON
//! bodies (content type, size, syntax, types, named fields) and pagination parameters.

use crate::dto::PageParams;
use crate::error::{ApiError, ErrorCode};
use crate::failure::Failure;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::{ready, LocalBoxFuture, Ready};
use futures_util::StreamExt;
use keyplane_domain::page::PageRequest;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

/// The largest request body accepted, in bytes (app data).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// Why a request body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Longer than the configured limit (declared or actual).
    TooLarge,
    /// The connection failed while reading.
    Unreadable,
    /// The whole body did not arrive within `body_timeout(req)` (a stalled or trickling
    /// client).
    TimedOut,
}

/// How long a request body may take to arrive, in total (app data).
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub std::time::Duration);

/// The configured body timeout for `req`.
pub fn body_timeout(req: &HttpRequest) -> std::time::Duration {
    req.app_data::<web::Data<BodyTimeout>>().map_or(std::time::Duration::from_secs(10), |t| t.0)
}

/// The configured body limit for `req`.
pub fn body_limit(req: &HttpRequest) -> usize {
    req.app_data::<web::Data<BodyLimit>>().map_or(64 * 1024, |l| l.0)
}

/// Reads a whole request body, refusing one longer than `body_limit(req)` as soon as the
/// declared length or the bytes received exceed it, and giving up when the whole body has
/// not arrived within `body_timeout(req)` (a deadline for the body, not an idle timeout,
/// so a client trickling a byte at a time is cut off too). Every API surface reads
/// bodies here.
///
/// # Errors
/// [`Failure::BodyTooLarge`], [`Failure::BodyUnreadable`] or [`Failure::BodyTimedOut`],
/// which every surface renders in its own shape.
pub async fn read_body<S, E>(req: &HttpRequest, payload: S) -> Result<web::BytesMut, Failure>
where
    S: futures_util::Stream<Item = Result<web::Bytes, E>> + Unpin,
{
    let limit = body_limit(req);
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(Failure::BodyTooLarge { limit });
    }
    tokio::time::timeout(body_timeout(req), collect(payload, limit))
        .await
        .map_err(|_| BodyError::TimedOut)
        .and_then(|read| read)
        .map_err(|e| match e {
            BodyError::TooLarge => Failure::BodyTooLarge { limit },
            BodyError::Unreadable => Failure::BodyUnreadable,
            BodyError::TimedOut => Failure::BodyTimedOut,
        })
}

async fn collect<S, E>(mut payload: S, limit: usize) -> Result<web::BytesMut, BodyError>
where
    S: futures_util::Stream<Item = Result<web::Bytes, E>> + Unpin,
{
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| BodyError::Unreadable)?;
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A JSON request body. Accepts `application/json` and any `application/*+json` (such
/// as `application/merge-patch+json`).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            check_json_content_type(&req)?;
            let body = read_body(&req, payload).await?;
            if body.iter().all(u8::is_ascii_whitespace) {
                return Err(ApiError::new(ErrorCode::InvalidData, "A JSON request body is required."));
            }
            parse_json(&body).map(JsonBody)
        })
    }
}

/// Refuses a body that is not declared as JSON.
///
/// # Errors
/// `415 root.unsupported_media_type`.
pub fn check_json_content_type(req: &HttpRequest) -> Result<(), ApiError> {
    if is_json(req) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "The request body must be JSON (Content-Type: application/json).",
        ))
    }
}

fn is_json(req: &HttpRequest) -> bool {
    match req.mime_type() {
        Ok(Some(mime)) => {
            mime.type_() == "application" && (mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json"))
        }
        _ => false,
    }
}

/// Deserialises `body`, naming the offending field on failure and never echoing values.
///
/// # Errors
/// `root.invalid_data` with `fields` when a field is missing, unknown or mistyped.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // serde accepts a struct written as an array; every Keyplane body is an object.
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        return Err(ApiError::new(ErrorCode::InvalidData, "The request body must be a JSON object."));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if !inner.is_data() {
            if inner.to_string().starts_with("recursion limit exceeded") {
                return ApiError::new(ErrorCode::InvalidData, "The request body is nested too deeply.");
            }
            return ApiError::new(
                ErrorCode::InvalidData,
                format!("The request body is not valid JSON (line {}, column {}).", inner.line(), inner.column()),
            );
        }
        let text = inner.to_string();
        let quoted = text.split('`').nth(1).map(str::to_owned);
        let join = |name: &str| {
            if path == "." || path.is_empty() {
                name.to_owned()
            } else if path == name || path.ends_with(&format!(".{name}")) {
                path.clone()
            } else {
                format!("{path}.{name}")
            }
        };
        let (field, message) = if text.starts_with("missing field") {
            let f = join(&quoted.unwrap_or_default());
            (f.clone(), format!("Missing required field '{f}'."))
        } else if text.starts_with("unknown field") {
            let f = join(&quoted.unwrap_or_default());
            (f.clone(), format!("Unknown field '{f}'."))
        } else {
            let expected =
                text.split(", expected ").nth(1).and_then(|e| e.split(" at line").next()).unwrap_or("another value");
            let f = if path == "." { String::new() } else { path.clone() };
            let what = if f.is_empty() { "the request body".to_owned() } else { format!("field '{f}'") };
            (f, format!("Invalid value for {what}: expected {expected}."))
        };
        let error = ApiError::new(ErrorCode::InvalidData, message);
        if field.is_empty() {
            error
        } else {
            error.with_fields([field])
        }
    })
}

/// For merge-patch fields: absent → `None`, `null` → `Some(None)`, value → `Some(Some(v))`.
/// Use with `#[serde(default, deserialize_with = "double_option")]`.
///
/// # Errors
/// The inner type's deserialisation error.
pub fn double_option<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// A merge-patch member that may be absent but not `null` (the field cannot be removed).
///
/// # Errors
/// [`Invalid`] for `field` when it is `null`.
pub fn required<T>(
    field: &'static str,
    value: Option<Option<T>>,
) -> Result<Option<T>, keyplane_domain::error::Invalid> {
    match value {
        Some(None) => Err(keyplane_domain::error::Invalid::new(field, "cannot be null")),
        Some(Some(v)) => Ok(Some(v)),
        None => Ok(None),
    }
}

/// `from` and `size` query parameters.
pub struct PageQuery(pub PageRequest);

impl FromRequest for PageQuery {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(parse_page(req.query_string()))
    }
}

fn parse_page(query: &str) -> Result<PageQuery, ApiError> {
    let pairs = form_urlencoded::parse(query.as_bytes());
    let params: PageParams =
        serde_path_to_error::deserialize(serde_urlencoded::Deserializer::new(pairs)).map_err(|e| {
            match e.path().iter().next_back().map(|s| s.to_string()).filter(|f| f == "from" || f == "size") {
                Some(field) => {
                    ApiError::new(ErrorCode::InvalidData, format!("'{field}' must be an integer.")).with_fields([field])
                }
                None => ApiError::new(ErrorCode::InvalidData, "The query string is malformed."),
            }
        })?;
    let page = PageRequest::parse(params.from, params.size)?;
    Ok(PageQuery(page))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        flag: bool,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Option<Inner>,
    }

    fn fields(body: &str) -> (ErrorCode, Option<Vec<String>>, String) {
        let e = parse_json::<Body>(body.as_bytes()).unwrap_err();
        let b = e.body();
        (e.code(), b.errors[0].fields.clone(), b.errors[0].message.clone())
    }

    #[test]
    fn json_errors_name_the_field_without_echoing_values() {
        let (code, f, _) = fields("{");
        assert_eq!((code, f), (ErrorCode::InvalidData, None));
        assert_eq!(fields("{}").1, Some(vec!["name".into()]));
        assert_eq!(fields(r#"{"name":"a","nmae":1}"#).1, Some(vec!["nmae".into()]));
        let (_, f, msg) = fields(r#"{"name":"a","inner":{"flag":"s3cret"}}"#);
        assert_eq!(f, Some(vec!["inner.flag".into()]));
        assert!(!msg.contains("s3cret"), "{msg}");
        assert_eq!(fields(r#"{"name":"a","inner":{}}"#).1, Some(vec!["inner.flag".into()]));
        assert_eq!(fields("[1]").1, None);
        assert_eq!(fields(&"[".repeat(10_000)).2, "The request body must be a JSON object.");
        let deep = format!(r#"{{"name":{}"#, r#"{"a":"#.repeat(10_000));
        let e = parse_json::<serde_json::Map<String, serde_json::Value>>(deep.as_bytes()).unwrap_err();
        assert_eq!(e.body().errors[0].message, "The request body is nested too deeply.");
    }

    #[test]
    fn page_parameters_are_bounded() {
        assert!(parse_page("").is_ok());
        assert!(parse_page("from=3&size=100").is_ok());
        for (q, f) in [("size=0", "size"), ("size=101", "size"), ("from=-1", "from"), ("size=x", "size")] {
            let e = parse_page(q).err().unwrap();
            assert_eq!(e.body().errors[0].fields, Some(vec![f.to_owned()]), "{q}");
        }
    }
}
