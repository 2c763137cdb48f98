//! `smtpscope watch`: relay denials, AUTH failures and pipelining violations counted from a
//! mail server's own log (Postfix, Exim, OpenSMTPD), with thresholds that alert on spikes.
//! The outside tests say whether the policy holds; the log says who keeps trying it.

pub mod event;
pub mod follow;
pub mod lines;
pub mod snapshot;
pub mod syslog;
pub mod tally;
pub mod threshold;

use event::{Sessions, classify};
use syslog::Clock;
use tally::Tally;
use threshold::{Alert, Threshold, Watcher};

/// A log being watched: the tally so far, the thresholds and what they raised.
pub struct Watch {
    clock: Clock,
    pub tally: Tally,
    sessions: Sessions,
    watchers: Vec<Watcher>,
    /// Every alert raised, in order.
    pub alerts: Vec<Alert>,
    /// The event the last line recorded, if it was one (its kind and client), for a reader
    /// that keeps the lines themselves (the explorer's watch pane).
    pub last_event: Option<(event::Kind, String)>,
}

impl Watch {
    /// `baseline_secs`: how far back the usual rate of a rate threshold (`5x/1m`) is taken.
    pub fn new(thresholds: &[Threshold], baseline_secs: i64, clock: Clock) -> Watch {
        Watch {
            clock,
            tally: Tally::default(),
            sessions: Sessions::default(),
            watchers: Watcher::all(thresholds, baseline_secs),
            alerts: Vec::new(),
            last_event: None,
        }
    }

    /// One line of the log (without its newline); returns how many alerts it raised (the
    /// newest in `alerts`).
    pub fn line(&mut self, bytes: &[u8]) -> usize {
        self.last_event = None;
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(_) => {
                // Not text: counted, never fatal.
                self.tally.line_seen(None);
                return 0;
            }
        };
        let Some(line) = syslog::parse(text, &self.clock) else {
            self.tally.line_seen(None);
            return 0;
        };
        self.tally.line_seen(Some(line.time));
        let Some(event) = classify(&line, &mut self.sessions) else {
            return 0;
        };
        self.tally.add(&event);
        self.last_event = Some((event.kind, event.client.to_string()));
        let before = self.alerts.len();
        for w in self.watchers.iter_mut().filter(|w| w.kind == event.kind) {
            self.alerts.extend(w.event(event.time, event.client));
        }
        self.alerts.len() - before
    }

    /// Time has passed to `now` (seconds since the epoch) with no new line: alerts whose
    /// window went quiet clear. Returns how many did.
    pub fn tick(&mut self, now: i64) -> usize {
        let before = self.alerts.len();
        for w in &mut self.watchers {
            if let Some(a) = w.tick(now) {
                self.alerts.push(a);
            }
        }
        self.alerts.len() - before
    }

    /// Whether any threshold was crossed.
    pub fn crossed(&self) -> bool {
        self.alerts
            .iter()
            .any(|a| a.state == threshold::AlertState::Crossed)
    }
}
