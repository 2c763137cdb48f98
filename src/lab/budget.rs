//! The memory budget for DATA in flight: bytes received for messages not yet stored, over all
//! sessions of one server. Without it, a thousand clients each sending a maximum-size message
//! at once would hold ten gigabytes.

use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug)]
pub(crate) struct DataBudget {
    limit: usize,
    used: AtomicUsize,
}

impl DataBudget {
    pub(crate) fn new(limit: usize) -> Self {
        DataBudget {
            limit,
            used: AtomicUsize::new(0),
        }
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    pub(crate) fn available(&self) -> usize {
        self.limit.saturating_sub(self.in_flight())
    }

    /// A claim on nothing yet; it grows as bytes arrive and gives everything back when dropped,
    /// so a session that ends mid-DATA cannot leak budget.
    pub(crate) fn reservation(&self) -> Reservation<'_> {
        Reservation {
            budget: self,
            held: 0,
        }
    }
}

pub(crate) struct Reservation<'a> {
    budget: &'a DataBudget,
    held: usize,
}

impl Reservation<'_> {
    /// Claims `n` more bytes; false, claiming nothing, when the budget cannot cover them.
    pub(crate) fn grow(&mut self, n: usize) -> bool {
        let limit = self.budget.limit;
        let claimed = self
            .budget
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&total| total <= limit)
            })
            .is_ok();
        if claimed {
            self.held += n;
        }
        claimed
    }

    pub(crate) fn release(&mut self) {
        self.budget.used.fetch_sub(self.held, Ordering::AcqRel);
        self.held = 0;
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_stop_at_the_limit_and_come_back_on_drop() {
        let budget = DataBudget::new(100);
        let mut a = budget.reservation();
        assert!(a.grow(60));
        let mut b = budget.reservation();
        assert!(!b.grow(41), "60 + 41 is over 100");
        assert!(b.grow(40));
        assert_eq!(budget.available(), 0);
        drop(a);
        assert_eq!(budget.in_flight(), 40);
        b.release();
        assert_eq!(budget.in_flight(), 0);
        drop(b);
        assert_eq!(budget.in_flight(), 0, "released once, not twice");
    }
}
