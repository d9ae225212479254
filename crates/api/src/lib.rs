//! Keyplane's HTTP layer: routes, extractors, the error envelope and the OpenAPI
//! document, plus `Application`, which wires storage and services into a server.
#![forbid(unsafe_code)]

pub mod admin_errors;
pub mod app;
pub mod audit;
pub mod authentication;
pub mod authorization;
pub mod cli;
pub mod connection;
pub mod dto;
pub mod error;
pub mod extract;
pub mod failure;
pub mod logging;
pub mod maintenance;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod ratelimit;
pub mod request_id;
pub mod request_log;
pub mod settings;
pub mod startup;
pub mod state;
pub mod surfaces;
pub mod tls;
pub mod transport;
pub mod wiring;

pub use settings::Settings;
pub use startup::Application;
