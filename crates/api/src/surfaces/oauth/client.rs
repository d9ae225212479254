//! What the OAuth endpoints share: form parameters (repeats refused, RFC 6749 §3.2),
//! client authentication with a tenant API key (HTTP Basic with the key id and secret,
//! the same as form fields, or `X-API-Key`), and the tenant of the path.

use super::error::OAuthError;
use crate::authentication::tenant_client;
use crate::extract::read_body;
use crate::state::AppState;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpMessage, HttpRequest};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use keyplane_domain::api_key::PresentedKey;
use keyplane_domain::origin::RequestContext;
use keyplane_domain::services::tokens::Verified;
use keyplane_domain::tenant::Tenant;
use serde::de::DeserializeOwned;
use std::collections::HashMap;

/// Reads an `application/x-www-form-urlencoded` body (JSON is accepted too), refusing
/// repeated parameters as RFC 6749 §3.2 requires.
pub async fn read_params(req: &HttpRequest, payload: web::Payload) -> Result<HashMap<String, String>, OAuthError> {
    let mime = req.mime_type().ok().flatten();
    let is_form = mime.as_ref().is_some_and(|m| m.type_() == "application" && m.subtype() == "x-www-form-urlencoded");
    let is_json = mime.as_ref().is_some_and(|m| m.type_() == "application" && m.subtype() == "json");
    if !is_form && !is_json {
        return Err(OAuthError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            "The body must be application/x-www-form-urlencoded.",
        ));
    }
    let body = read_body(req, payload).await?;
    let pairs: Vec<(String, String)> = if is_form {
        serde_urlencoded::from_bytes(&body).map_err(|_| OAuthError::invalid_request("The form body is malformed."))?
    } else {
        let map: HashMap<String, serde_json::Value> =
            serde_json::from_slice(&body).map_err(|_| OAuthError::invalid_request("The JSON body is malformed."))?;
        map.into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => Ok((k, s)),
                _ => Err(OAuthError::invalid_request(format!("Parameter '{k}' must be a string."))),
            })
            .collect::<Result<_, _>>()?
    };
    let mut params = HashMap::new();
    for (k, v) in pairs {
        if params.insert(k.clone(), v).is_some() {
            return Err(OAuthError::invalid_request(format!("Parameter '{k}' is repeated.")));
        }
    }
    Ok(params)
}

/// The API key the client authenticated with, if it sent one.
pub fn client_key(req: &HttpRequest, params: &HashMap<String, String>) -> Result<Option<PresentedKey>, OAuthError> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| OAuthError::invalid_client())?.trim();
        if let Some(encoded) = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic ")) {
            let decoded = STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(OAuthError::invalid_client)?;
            let (id, secret) = decoded.split_once(':').ok_or_else(OAuthError::invalid_client)?;
            let decode = |s: &str| {
                serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
                    .ok()
                    .and_then(|v| v.into_iter().next())
                    .map(|(_, v)| v)
            };
            let (id, secret) = (
                decode(id).ok_or_else(OAuthError::invalid_client)?,
                decode(secret).ok_or_else(OAuthError::invalid_client)?,
            );
            return PresentedKey::from_parts(&id, &secret).map(Some).ok_or_else(OAuthError::invalid_client);
        }
    }
    if let (Some(id), Some(secret)) = (params.get("client_id"), params.get("client_secret")) {
        return PresentedKey::from_parts(id, secret).map(Some).ok_or_else(OAuthError::invalid_client);
    }
    if let Some(value) = req.headers().get("x-api-key") {
        let key = value.to_str().ok().and_then(|v| PresentedKey::parse(v.trim()));
        return key.map(Some).ok_or_else(OAuthError::invalid_client);
    }
    Ok(None)
}

/// Verifies the client's key and that it belongs to `tenant`; returns who it is.
///
/// # Errors
/// `invalid_client` for a bad or foreign key; internal failures.
pub async fn authenticate_client(
    state: &AppState,
    tenant: &Tenant,
    key: PresentedKey,
    origin: &RequestContext,
) -> Result<Verified, OAuthError> {
    tenant_client(state, tenant, key, origin).await?.ok_or_else(OAuthError::invalid_client)
}

/// The parameters as the endpoint's form type (unknown parameters are ignored).
///
/// # Errors
/// `invalid_request` naming a parameter of the wrong type.
pub fn form<T: DeserializeOwned>(params: &HashMap<String, String>) -> Result<T, OAuthError> {
    let value = serde_json::to_value(params).map_err(|e| OAuthError::invalid_request(e.to_string()))?;
    serde_json::from_value(value).map_err(|_| OAuthError::invalid_request("The parameters are malformed."))
}

/// A required, non-empty parameter.
///
/// # Errors
/// `invalid_request` naming it.
pub fn require<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, OAuthError> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OAuthError::invalid_request(format!("Missing required parameter '{name}'.")))
}
