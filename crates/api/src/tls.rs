//! TLS termination (`KEYPLANE_TLS__CERT`, `KEYPLANE_TLS__KEY`): rustls with the aws-lc-rs
//! provider, the certificate chain and private key read from PEM files. actix-web
//! offers HTTP/2 and HTTP/1.1 by ALPN; every response over TLS carries HSTS.

use crate::settings::TlsSettings;
use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;

/// `Strict-Transport-Security` on TLS responses: a year, subdomains left alone (tenants'
/// applications may live on them).
pub const HSTS: &str = "max-age=31536000";

/// The server configuration for `settings`, or `None` when TLS is not configured.
///
/// # Errors
/// Only one of the two paths set; an unreadable or malformed file; a key that does not
/// match the certificate.
pub fn server_config(settings: &TlsSettings) -> anyhow::Result<Option<rustls::ServerConfig>> {
    let (cert, key) = match (&settings.cert, &settings.key) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        _ => anyhow::bail!("set both KEYPLANE_TLS__CERT and KEYPLANE_TLS__KEY (PEM files), or neither"),
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading the certificate chain {}", cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "{} holds no certificate", cert.display());
    let private =
        PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading the private key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .context("the private key does not match the certificate")?;
    Ok(Some(config))
}
