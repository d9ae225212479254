//! Slow and stalled clients: the HTTP server's timeouts and connection limit, and closing
//! a connection whose request body was not read to its end (a client that sent headers
//! and stalled, or whose body a handler refused unread), so that it cannot hold the
//! socket or smuggle its leftover bytes into a next request.

use crate::settings::HttpSettings;
use actix_web::body::{BodySize, BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{header, ConnectionType};
use actix_web::{web, HttpMessage};
use futures_util::Stream;
use std::cell::{Cell, RefCell};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

/// The server-wide limits derived from [`HttpSettings`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// How long the request head may take to arrive (actix answers 408 itself).
    pub head_timeout: Duration,
    /// How long an idle keep-alive connection stays open; zero disables keep-alive.
    pub keep_alive: Duration,
    /// How long a closing connection waits for the client to take the last bytes.
    pub disconnect_timeout: Duration,
    /// Concurrent connections per worker (actix counts per worker).
    pub connections_per_worker: usize,
}

impl ConnectionLimits {
    /// The limits for `settings`, with the per-replica connection limit split evenly over
    /// `workers` (rounded up, at least 1 each).
    pub fn new(settings: &HttpSettings, workers: usize) -> Self {
        let workers = workers.max(1);
        Self {
            head_timeout: Duration::from_millis(settings.request_head_timeout_ms),
            keep_alive: Duration::from_secs(settings.keep_alive_secs),
            disconnect_timeout: Duration::from_millis(settings.disconnect_timeout_ms),
            connections_per_worker: settings.max_connections.div_ceil(workers).max(1),
        }
    }
}

/// Whether the request head announces a body.
fn announces_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    length > 0 || headers.contains_key(header::TRANSFER_ENCODING)
}

/// The request body, shared between the handler (through a wrapper) and
/// [`close_if_unread`], which keeps it alive until the response is sent.
type SharedPayload = Rc<RefCell<Payload>>;

/// What [`watch_body`] hands to [`close_if_unread`].
pub struct BodyWatch {
    finished: Rc<Cell<bool>>,
    payload: SharedPayload,
}

/// Watches whether the body of `req` is read to its end. `None` when the request
/// announces no body.
pub fn watch_body(req: &mut ServiceRequest) -> Option<BodyWatch> {
    if !announces_body(req) {
        return None;
    }
    let finished = Rc::new(Cell::new(false));
    let payload: SharedPayload = Rc::new(RefCell::new(req.take_payload()));
    let (flag, inner) = (finished.clone(), payload.clone());
    let stream = futures_util::stream::poll_fn(move |cx| {
        let next = Pin::new(&mut *inner.borrow_mut()).poll_next(cx);
        if let Poll::Ready(None) = next {
            flag.set(true);
        }
        next
    });
    let boxed: Pin<Box<dyn Stream<Item = Result<web::Bytes, PayloadError>>>> = Box::pin(stream);
    req.set_payload(Payload::from(boxed));
    Some(BodyWatch { finished, payload })
}

/// When the body watched by `watch` was not read to its end, marks `res`
/// `Connection: close` and keeps the body alive until the response body is sent: actix
/// closes a connection whose request body is still pending when the response ends,
/// where it would otherwise try to drain a dropped chunked body from a client that may
/// never finish it.
pub fn close_if_unread<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
    watch: Option<BodyWatch>,
) -> ServiceResponse<EitherBody<B, HoldingPayload>> {
    match watch.filter(|w| !w.finished.get()) {
        None => res.map_into_left_body(),
        Some(watch) => {
            let mut res = res.map_body(|_, body| {
                EitherBody::right(HoldingPayload { body: BoxBody::new(body), _payload: watch.payload })
            });
            res.response_mut().head_mut().set_connection_type(ConnectionType::Close);
            res
        }
    }
}

/// A response body that keeps an unread request body alive until it has been sent.
pub struct HoldingPayload {
    body: BoxBody,
    _payload: SharedPayload,
}

impl MessageBody for HoldingPayload {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<web::Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_limit_is_split_over_workers() {
        let settings = HttpSettings { max_connections: 10, ..HttpSettings::default() };
        assert_eq!(ConnectionLimits::new(&settings, 3).connections_per_worker, 4);
        assert_eq!(ConnectionLimits::new(&settings, 0).connections_per_worker, 10);
        let one = HttpSettings { max_connections: 1, ..HttpSettings::default() };
        assert_eq!(ConnectionLimits::new(&one, 4).connections_per_worker, 1);
    }
}
