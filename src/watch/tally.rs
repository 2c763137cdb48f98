//! Counting what the log said, in bounded memory: per kind a total, the heaviest clients,
//! senders and recipient domains, and a per-minute histogram.
//!
//! A log can name millions of distinct clients (a botnet's sweep), so the per-key counts are
//! kept the way heavy-hitter counters are: up to `CAPACITY` keys exactly; when a map reaches
//! twice that, only the `CAPACITY` heaviest stay, and the largest count let go is remembered
//! as the error bound. A key reported with count `c` was seen at least `c` and at most
//! `c + error_bound` times; with no pruning, every count is exact.

use std::collections::{BTreeMap, HashMap};

use super::event::{Event, Kind};

/// Keys kept exactly per map before pruning.
pub const CAPACITY: usize = 50_000;

/// Minutes of histogram kept (a week); older minutes are dropped as newer ones come.
pub const HISTOGRAM_MINUTES: usize = 7 * 24 * 60;

/// Counts per key, bounded as described above.
#[derive(Debug, Default, Clone)]
pub struct TopCounts {
    counts: HashMap<String, u64>,
    /// The largest count let go by pruning: every kept count may be this much short.
    pub error_bound: u64,
    /// Distinct keys ever let go.
    pub pruned: u64,
}

impl TopCounts {
    pub fn add(&mut self, key: &str) {
        if let Some(n) = self.counts.get_mut(key) {
            *n += 1;
            return;
        }
        if self.counts.len() >= 2 * CAPACITY {
            self.prune();
        }
        self.counts.insert(key.to_string(), 1);
    }

    fn prune(&mut self) {
        let mut all: Vec<u64> = self.counts.values().copied().collect();
        // The CAPACITY-th largest count: what stays is above it (ties may go too).
        let cut_at = all.len() - CAPACITY;
        let (_, &mut cut, _) = all.select_nth_unstable(cut_at);
        let before = self.counts.len();
        let mut dropped_max = 0;
        self.counts.retain(|_, n| {
            if *n > cut {
                true
            } else {
                dropped_max = dropped_max.max(*n);
                false
            }
        });
        self.pruned += (before - self.counts.len()) as u64;
        self.error_bound = self.error_bound.max(dropped_max);
    }

    /// The `n` heaviest, heaviest first (ties by key, so the order is stable).
    pub fn top(&self, n: usize) -> Vec<(&str, u64)> {
        let mut all: Vec<(&str, u64)> = self.counts.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        all.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        all.truncate(n);
        all
    }

    pub fn distinct(&self) -> usize {
        self.counts.len()
    }

    pub fn get(&self, key: &str) -> u64 {
        self.counts.get(key).copied().unwrap_or(0)
    }
}

/// Everything counted for one kind.
#[derive(Debug, Default, Clone)]
pub struct KindTally {
    pub total: u64,
    pub by_client: TopCounts,
    pub by_sender: TopCounts,
    pub by_recipient_domain: TopCounts,
}

/// The whole tally of a log.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub lines: u64,
    /// Lines in no known log form (and lines that were not UTF-8 text at all).
    pub not_understood: u64,
    pub first: Option<i64>,
    pub last: Option<i64>,
    pub kinds: [KindTally; 4],
    /// Events per minute (minute = seconds / 60), per kind.
    pub per_minute: BTreeMap<i64, [u32; 4]>,
}

impl Tally {
    pub fn line_seen(&mut self, time: Option<i64>) {
        self.lines += 1;
        match time {
            Some(t) => {
                self.first = Some(self.first.map_or(t, |f| f.min(t)));
                self.last = Some(self.last.map_or(t, |l| l.max(t)));
            }
            None => self.not_understood += 1,
        }
    }

    pub fn add(&mut self, e: &Event<'_>) {
        let k = &mut self.kinds[e.kind.index()];
        k.total += 1;
        k.by_client.add(e.client);
        if let Some(s) = e.sender {
            k.by_sender.add(if s.is_empty() { "<>" } else { s });
        }
        if let Some(d) = e.recipient_domain() {
            k.by_recipient_domain.add(&d.to_ascii_lowercase());
        }
        let minute = e.time.div_euclid(60);
        let slot = self.per_minute.entry(minute).or_insert([0; 4]);
        slot[e.kind.index()] = slot[e.kind.index()].saturating_add(1);
        while self.per_minute.len() > HISTOGRAM_MINUTES {
            self.per_minute.pop_first();
        }
    }

    pub fn kind(&self, kind: Kind) -> &KindTally {
        &self.kinds[kind.index()]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code
mod tests {
    use super::*;

    #[test]
    fn counts_are_exact_below_the_capacity() {
        let mut c = TopCounts::default();
        for i in 0..1000 {
            for _ in 0..(i % 7) {
                c.add(&format!("10.0.{}.{}", i / 256, i % 256));
            }
        }
        assert_eq!(c.error_bound, 0);
        assert_eq!(c.top(1)[0].1, 6);
        assert_eq!(c.get("10.0.0.6"), 6);
        assert_eq!(c.get("10.0.0.7"), 0, "i % 7 == 0: never added");
    }

    #[test]
    fn a_sweep_of_distinct_keys_stays_bounded_and_keeps_the_heavy_hitters() {
        let mut c = TopCounts::default();
        for _ in 0..500 {
            c.add("203.0.113.9");
        }
        for i in 0..(5 * CAPACITY) {
            c.add(&format!("k{i}"));
        }
        for _ in 0..10 {
            c.add("198.51.100.7");
        }
        assert!(c.distinct() <= 2 * CAPACITY, "{}", c.distinct());
        assert!(c.pruned > 0);
        assert_eq!(c.error_bound, 1, "only keys seen once were let go");
        assert_eq!(c.top(2)[0], ("203.0.113.9", 500));
        // The late heavy hitter is counted exactly or within the bound.
        let late = c.get("198.51.100.7");
        assert!((10 - c.error_bound..=10).contains(&late), "{late}");
    }
}
