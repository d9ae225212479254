//! The hashing pool's queue, shared fairly: one lane per tenant (and one for the
//! platform), served in turn, each holding at most its share. A flood of sign-ins at one
//! tenant fills only that tenant's lane, and the others' jobs run next, not after it.

use keyplane_domain::scope::Scope;
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
use tokio::sync::Notify;

/// Pushes that may wait for a place in one lane. Enough that a flood's connections wait
/// rather than spin on instant refusals (which take the CPU the hashes need), few enough
/// that waking them all when a place frees stays cheap (a lock and a scan each).
pub const WAITERS_PER_LANE: usize = 256;

/// A bounded multi-lane queue: lanes are served round-robin.
pub struct FairQueue<T> {
    state: Mutex<Lanes<T>>,
    ready: Condvar,
    /// Woken whenever an item leaves the queue: a refused push may try again.
    space: Notify,
    lane_capacity: usize,
    capacity: usize,
}

struct Lanes<T> {
    /// Lanes with waiting items, in serving order.
    waiting: VecDeque<(Scope, VecDeque<T>)>,
    queued: usize,
    /// Pushes waiting for a place, per lane (see [`FairQueue::push_within`]).
    blocked: std::collections::HashMap<Scope, usize>,
}

impl<T> FairQueue<T> {
    /// A queue where one lane holds at most `lane_capacity` items and all lanes together
    /// `capacity`, except that a lane with nothing waiting may always queue one item: a
    /// tenant is never refused because others fill the queue.
    pub fn new(lane_capacity: usize, capacity: usize) -> Self {
        Self {
            state: Mutex::new(Lanes { waiting: VecDeque::new(), queued: 0, blocked: std::collections::HashMap::new() }),
            ready: Condvar::new(),
            space: Notify::new(),
            lane_capacity: lane_capacity.max(1),
            capacity: capacity.max(lane_capacity).max(1),
        }
    }

    /// Queues `item` in `lane`, or gives it back when the lane holds its share already
    /// (or the whole queue is full and the lane has something waiting).
    ///
    /// # Errors
    /// The item itself, refused.
    pub fn push(&self, lane: Scope, item: T) -> Result<(), T> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let queued = state.queued;
        match state.waiting.iter_mut().find(|(l, _)| *l == lane) {
            Some((_, items)) => {
                if items.len() >= self.lane_capacity || queued >= self.capacity {
                    return Err(item);
                }
                items.push_back(item);
            }
            None => state.waiting.push_back((lane, VecDeque::from([item]))),
        }
        state.queued += 1;
        drop(state);
        self.ready.notify_one();
        Ok(())
    }

    /// Takes the next item, lanes in turn; blocks until there is one.
    pub fn pop(&self) -> T {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            if let Some((lane, mut items)) = state.waiting.pop_front() {
                if let Some(item) = items.pop_front() {
                    if !items.is_empty() {
                        state.waiting.push_back((lane, items));
                    }
                    state.queued -= 1;
                    drop(state);
                    self.space.notify_waiters();
                    return item;
                }
            }
            state = self.ready.wait(state).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// Queues `item` in `lane`, waiting up to `deadline` for a place when the lane holds
    /// its share: a waiting client costs nothing, where one refused at once comes back at
    /// once and spends the CPU the hashes need.
    ///
    /// At most [`WAITERS_PER_LANE`] pushes wait per lane; more are refused at once, so
    /// that the waiters (each woken when a place frees) stay bounded whatever the flood.
    ///
    /// # Errors
    /// The item itself, when no place freed up in time or too many wait already.
    pub async fn push_within(&self, lane: Scope, item: T, deadline: tokio::time::Instant) -> Result<(), T> {
        let mut item = match self.push(lane, item) {
            Ok(()) => return Ok(()),
            Err(refused) => refused,
        };
        if !self.start_waiting(lane) {
            return Err(item);
        }
        let _waiting = Waiting { queue: self, lane };
        loop {
            // Registered before trying, so a place freed in between is not missed.
            let freed = self.space.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            match self.push(lane, item) {
                Ok(()) => return Ok(()),
                Err(refused) => item = refused,
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return Err(item);
            }
        }
    }

    fn start_waiting(&self, lane: Scope) -> bool {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let blocked = state.blocked.entry(lane).or_default();
        if *blocked >= WAITERS_PER_LANE {
            return false;
        }
        *blocked += 1;
        true
    }

    /// Items waiting in all lanes.
    pub fn queued(&self) -> usize {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).queued
    }
}

/// A push waiting for a place; counted until it ends, however it ends (a client that
/// goes away drops it).
struct Waiting<'q, T> {
    queue: &'q FairQueue<T>,
    lane: Scope,
}

impl<T> Drop for Waiting<'_, T> {
    fn drop(&mut self) {
        let mut state = self.queue.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(blocked) = state.blocked.get_mut(&self.lane) {
            *blocked -= 1;
            if *blocked == 0 {
                state.blocked.remove(&self.lane);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyplane_domain::ids::TenantId;

    #[test]
    fn a_flooded_lane_is_bounded_and_the_others_are_served_in_turn() {
        let (a, b) = (Scope::Tenant(TenantId::generate()), Scope::Tenant(TenantId::generate()));
        let q = FairQueue::new(3, 4);
        for i in 0..3 {
            q.push(a, ("a", i)).unwrap();
        }
        assert_eq!(q.push(a, ("a", 3)), Err(("a", 3)), "a's share is full");
        q.push(b, ("b", 0)).unwrap();
        q.push(Scope::Platform, ("p", 0)).unwrap();
        assert_eq!(q.queued(), 5, "a lane with nothing waiting may always queue one");
        assert_eq!(q.push(b, ("b", 1)), Err(("b", 1)), "the whole queue is full");
        let order: Vec<(&str, i32)> = (0..5).map(|_| q.pop()).collect();
        assert_eq!(order, [("a", 0), ("b", 0), ("p", 0), ("a", 1), ("a", 2)], "lanes take turns");
        assert_eq!(q.queued(), 0);
    }

    #[tokio::test]
    async fn a_push_to_a_full_lane_waits_for_a_place_until_its_deadline() {
        use std::sync::Arc;
        use std::time::Duration;
        let lane = Scope::Tenant(TenantId::generate());
        let q = Arc::new(FairQueue::new(1, 1));
        q.push(lane, 0).unwrap();
        let soon = tokio::time::Instant::now() + Duration::from_millis(50);
        assert_eq!(q.push_within(lane, 1, soon).await, Err(1), "nothing left the queue in time");
        let worker = {
            let q = q.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                q.pop()
            })
        };
        let later = tokio::time::Instant::now() + Duration::from_secs(5);
        assert_eq!(q.push_within(lane, 2, later).await, Ok(()), "the place freed by the worker is taken");
        assert_eq!(worker.join().unwrap(), 0);
        assert_eq!(q.pop(), 2);
    }

    #[tokio::test]
    async fn only_a_lanes_share_of_pushes_may_wait() {
        use std::sync::Arc;
        use std::time::Duration;
        let (a, b) = (Scope::Tenant(TenantId::generate()), Scope::Tenant(TenantId::generate()));
        let q = Arc::new(FairQueue::new(1, 8));
        q.push(a, 0).unwrap();
        let later = tokio::time::Instant::now() + Duration::from_secs(5);
        let waiting: Vec<_> = (0..WAITERS_PER_LANE)
            .map(|i| {
                let q = q.clone();
                tokio::spawn(async move { q.push_within(a, i + 1, later).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(q.push_within(a, 0, later).await, Err(0), "a's waiting places are taken: refused at once");
        assert_eq!(q.push_within(b, 3, later).await, Ok(()), "another lane is not affected");
        assert_eq!(q.pop(), 0);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut served = 0;
        for waiter in waiting {
            // One took the freed place; the others are still waiting: end them.
            if waiter.is_finished() {
                served += usize::from(waiter.await.unwrap().is_ok());
            } else {
                waiter.abort();
            }
        }
        assert_eq!(served, 1, "exactly one waiter gets the freed place");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(q.state.lock().unwrap().blocked.is_empty(), "waiters are uncounted when they end");
    }
}
