//! How many of a run's sessions are open at once, shared by its scenarios (and consulted by
//! their TLS version probes). A server that
//! limits connections per client (Exim's `smtp_accept_max_per_host`, Postfix's
//! `smtpd_client_connection_count_limit`, the lab's `--max-connections`) answers the one too
//! many with 421 in its banner. That says "not now", not "never": the session waits for one of
//! the run's others to end and tries again, and the run keeps under the limit it learned,
//! instead of counting the server as unreachable and leaving the other scenarios untried.

use std::sync::Mutex;

use tokio::sync::Notify;

#[derive(Debug)]
struct Counts {
    open: usize,
    /// Sessions the server greeted: once one was, a 421 means a crowd, not a refusal.
    greeted: usize,
    /// The most sessions the server took at once, once it has turned one away.
    limit: usize,
    /// Tries again after a 421 the run may still make, all its sessions and probes together.
    retries_left: usize,
}

/// How many times one run connects again after a 421 in the banner, whatever its number of
/// sessions: the full audit's 12 sessions and its version probe's connections all turned away
/// twice over at a limit of one fit, while a server that admits one connection and answers 421
/// to every other gets this many extra connections from a run, not eight per session.
pub const RUN_RETRIES: usize = 32;

#[derive(Debug)]
pub struct Crowd {
    counts: Mutex<Counts>,
    ended: Notify,
}

impl Default for Crowd {
    fn default() -> Self {
        Crowd {
            counts: Mutex::new(Counts {
                open: 0,
                greeted: 0,
                limit: usize::MAX,
                retries_left: RUN_RETRIES,
            }),
            ended: Notify::new(),
        }
    }
}

impl Crowd {
    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        // A panic elsewhere cannot leave the two numbers inconsistent: each change is one
        // statement.
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until one more session may open under the learned limit, and counts it.
    pub async fn enter(&self) {
        loop {
            let ended = self.ended.notified();
            tokio::pin!(ended);
            // Registered before the check, so an end between the check and the wait is seen.
            ended.as_mut().enable();
            {
                let mut c = self.counts();
                if c.open < c.limit {
                    c.open += 1;
                    return;
                }
            }
            ended.await;
        }
    }

    /// A session counted by [`Self::enter`] ended (or never got going).
    pub fn leave(&self) {
        {
            let mut c = self.counts();
            c.open = c.open.saturating_sub(1);
        }
        self.ended.notify_waiters();
    }

    /// A counted session got past the banner.
    pub fn greeted(&self) {
        self.counts().greeted += 1;
    }

    /// A session that has left was turned away with 421 in the banner. When others are open,
    /// or were greeted before (they may have ended between the server's count and this), the
    /// server's limit is the number open now, at least one, and the session may try again:
    /// how many are open is returned. With none ever greeted the server is refusing this
    /// client, not a crowd: `None`; likewise once the run has tried again [`RUN_RETRIES`]
    /// times.
    pub fn turned_away(&self) -> Option<usize> {
        let mut c = self.counts();
        if c.open == 0 && c.greeted == 0 {
            return None;
        }
        c.limit = c.limit.min(c.open.max(1));
        if c.retries_left == 0 {
            return None;
        }
        c.retries_left -= 1;
        Some(c.open)
    }

    /// A connection that is not a counted session (a version probe's) was turned away with
    /// 421: whether the run may still try again, counting the try.
    pub fn may_try_again(&self) -> bool {
        let mut c = self.counts();
        if c.retries_left == 0 {
            return false;
        }
        c.retries_left -= 1;
        true
    }

    /// The next end of one of the run's connections (a session's, or a connection that is not
    /// a session: a TLS version probe's), listened for from now on: a probe turned away with
    /// 421 tries again after it.
    pub fn next_end(&self) -> std::pin::Pin<Box<tokio::sync::futures::Notified<'_>>> {
        let mut ended = Box::pin(self.ended.notified());
        ended.as_mut().enable();
        ended
    }

    /// A connection of the run that is not a counted session ended.
    pub fn connection_ended(&self) {
        self.ended.notify_waiters();
    }

    #[cfg(test)]
    fn retries_left(&self) -> usize {
        self.counts().retries_left
    }

    #[cfg(test)]
    fn snapshot(&self) -> (usize, usize) {
        let c = self.counts();
        (c.open, c.limit)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// The run's tries again are shared by its sessions and probes, and end at the budget.
    #[test]
    fn a_run_tries_again_at_most_run_retries_times_in_all() {
        let crowd = Crowd::default();
        crowd.greeted();
        for n in 0..RUN_RETRIES {
            let allowed = if n % 2 == 0 {
                crowd.turned_away().is_some()
            } else {
                crowd.may_try_again()
            };
            assert!(allowed, "try {n}");
        }
        assert_eq!(crowd.retries_left(), 0);
        assert_eq!(crowd.turned_away(), None, "a session, after the budget");
        assert!(!crowd.may_try_again(), "a probe, after the budget");
    }

    #[tokio::test]
    async fn a_turned_away_session_waits_for_one_to_end_and_the_limit_holds() {
        let crowd = Arc::new(Crowd::default());
        for _ in 0..3 {
            crowd.enter().await;
        }
        // A fourth opens and is turned away: it leaves, the limit becomes 3.
        crowd.enter().await;
        crowd.leave();
        assert_eq!(crowd.turned_away(), Some(3));
        assert_eq!(crowd.snapshot(), (3, 3));
        let waiting = {
            let crowd = Arc::clone(&crowd);
            tokio::spawn(async move { crowd.enter().await })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "three open: the fourth waits");
        crowd.leave();
        waiting.await.expect("entered once one ended");
        assert_eq!(crowd.snapshot(), (3, 3));
        // The limit only goes down.
        crowd.leave();
        crowd.leave();
        assert_eq!(crowd.turned_away(), Some(1));
        assert_eq!(crowd.snapshot(), (1, 1));
    }

    #[test]
    fn turned_away_with_nobody_open_is_a_refusal_unless_one_was_greeted() {
        let crowd = Crowd::default();
        assert_eq!(crowd.turned_away(), None);
        assert_eq!(crowd.snapshot(), (0, usize::MAX));
        // One was greeted and has ended: the 421 was counted while it was open.
        crowd.greeted();
        assert_eq!(crowd.turned_away(), Some(0));
        assert_eq!(crowd.snapshot(), (0, 1));
    }
}
