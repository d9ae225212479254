//! Sign-in events off the request path: [`BufferedAuditLog::record`] puts the event on a
//! bounded queue and returns; one [`AuditWriter`] task stores the queue in batches.
//!
//! - **Queue full**: the event is written synchronously by the caller (one insert), so a
//!   burst slows the requests that overflow it instead of losing events or growing memory
//!   without bound.
//! - **Shutdown**: [`AuditWriter::shutdown`] closes the queue (later events are written
//!   synchronously, as when it is full), stores everything still queued, and returns once
//!   that is done. `Application::run_until_stopped` calls it after the server stopped.
//! - **Storage failure**: a failed batch is retried event by event; what still fails is
//!   logged at error level with its id and action (the events carry no secret).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyplane_domain::audit::{AuditEvent, AuditFilter, AuditLog, AuditScope};
use keyplane_domain::error::StorageError;
use keyplane_domain::page::{Page, PageRequest};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// An [`AuditLog`] whose `record` queues; listing and purging go to the store directly
/// (so an event may show in listings a few milliseconds after `record` returned).
#[derive(Clone)]
pub struct BufferedAuditLog {
    store: Arc<dyn AuditLog>,
    queue: mpsc::Sender<AuditEvent>,
}

/// The task that drains a [`BufferedAuditLog`]'s queue into the store.
pub struct AuditWriter {
    store: Arc<dyn AuditLog>,
    queue: mpsc::Receiver<AuditEvent>,
    batch: usize,
}

/// Stops a running [`AuditWriter`] after it stored what was queued.
pub struct AuditWriterHandle {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl BufferedAuditLog {
    /// A buffered log over `store` with a queue of `capacity` events, and the writer that
    /// stores them `batch` at a time (both at least 1).
    pub fn new(store: Arc<dyn AuditLog>, capacity: usize, batch: usize) -> (Self, AuditWriter) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let writer = AuditWriter { store: store.clone(), queue: rx, batch: batch.max(1) };
        (Self { store, queue: tx }, writer)
    }
}

#[async_trait]
impl AuditLog for BufferedAuditLog {
    async fn record(&self, event: &AuditEvent) -> Result<(), StorageError> {
        match self.queue.try_send(event.clone()) {
            Ok(()) => Ok(()),
            // Full or shut down: write it here rather than lose it.
            Err(mpsc::error::TrySendError::Full(event) | mpsc::error::TrySendError::Closed(event)) => {
                self.store.record(&event).await
            }
        }
    }

    async fn record_batch(&self, events: &[AuditEvent]) -> Result<(), StorageError> {
        for event in events {
            self.record(event).await?;
        }
        Ok(())
    }

    async fn list(
        &self,
        scope: AuditScope,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEvent>, StorageError> {
        self.store.list(scope, filter, page).await
    }

    async fn purge(&self, cutoff: DateTime<Utc>, limit: u64) -> Result<u64, StorageError> {
        self.store.purge(cutoff, limit).await
    }
}

impl AuditWriter {
    /// Starts the writer on the current runtime.
    pub fn spawn(self) -> AuditWriterHandle {
        let (stop, stopped) = oneshot::channel();
        AuditWriterHandle { stop, task: tokio::spawn(self.run(stopped)) }
    }

    async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        let mut batch = Vec::with_capacity(self.batch);
        loop {
            tokio::select! {
                received = self.queue.recv_many(&mut batch, self.batch) => {
                    if received == 0 {
                        return; // Every sender is gone and the queue is empty.
                    }
                    self.store_batch(&mut batch).await;
                }
                _ = &mut stop => break,
            }
        }
        // Shutting down: refuse new events (their senders write them themselves), then
        // store what is queued.
        self.queue.close();
        while self.queue.recv_many(&mut batch, self.batch).await > 0 {
            self.store_batch(&mut batch).await;
        }
    }

    async fn store_batch(&self, batch: &mut Vec<AuditEvent>) {
        if let Err(e) = self.store.record_batch(batch).await {
            tracing::warn!(error = %e, events = batch.len(), "storing a batch of audit events failed; retrying one by one");
            for event in batch.iter() {
                if let Err(e) = self.store.record(event).await {
                    tracing::error!(error = %e, id = %event.id, action = %event.action, "an audit event could not be stored");
                }
            }
        }
        batch.clear();
    }
}

impl AuditWriterHandle {
    /// Stores everything queued, then returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the audit writer failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyplane_domain::audit::{Actor, Outcome};
    use keyplane_domain::origin::EntryPoint;
    use keyplane_domain::origin::RequestContext;
    use std::sync::Mutex;

    /// A store that counts what it was given, and can be slowed down.
    #[derive(Default)]
    struct Stored(Mutex<Vec<AuditEvent>>, Mutex<Vec<usize>>);

    #[async_trait]
    impl AuditLog for Stored {
        async fn record(&self, event: &AuditEvent) -> Result<(), StorageError> {
            self.0.lock().unwrap().push(event.clone());
            Ok(())
        }
        async fn record_batch(&self, events: &[AuditEvent]) -> Result<(), StorageError> {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            self.1.lock().unwrap().push(events.len());
            self.0.lock().unwrap().extend(events.iter().cloned());
            Ok(())
        }
        async fn list(&self, _: AuditScope, _: &AuditFilter, _: PageRequest) -> Result<Page<AuditEvent>, StorageError> {
            unimplemented!()
        }
        async fn purge(&self, _: DateTime<Utc>, _: u64) -> Result<u64, StorageError> {
            unimplemented!()
        }
    }

    fn event() -> AuditEvent {
        let request = RequestContext::new(EntryPoint::Native);
        AuditEvent::new(Utc::now(), None, Actor::anonymous(), "user.sign_in.failed", Outcome::Failure, &request)
    }

    #[tokio::test]
    async fn nothing_is_lost_when_the_queue_overflows_or_the_writer_stops() {
        let store = Arc::new(Stored::default());
        let (log, writer) = BufferedAuditLog::new(store.clone(), 8, 4);
        let writer = writer.spawn();
        let events: Vec<AuditEvent> = (0..200).map(|_| event()).collect();
        for e in &events {
            log.record(e).await.unwrap();
        }
        writer.shutdown().await;
        // After shutdown, events are written by the caller.
        let late = event();
        log.record(&late).await.unwrap();

        let mut stored: Vec<_> = store.0.lock().unwrap().iter().map(|e| e.id).collect();
        stored.sort();
        let mut expected: Vec<_> = events.iter().chain([&late]).map(|e| e.id).collect();
        expected.sort();
        assert_eq!(stored, expected, "every event stored exactly once");
        assert!(store.1.lock().unwrap().iter().all(|n| (1..=4).contains(n)), "batches are bounded");
    }
}
