//! Thresholds ("20 relay denials within a minute") and the alerts they raise: crossed when
//! the count within the sliding window reaches the threshold, cleared when a full window
//! passes with fewer. Times are the log's own, so a summary of yesterday's log alerts on
//! yesterday's spikes.

use std::collections::VecDeque;

use super::event::Kind;

/// `[KIND:]COUNT/DURATION`, e.g. `20/1m` (every kind) or `auth:5/30s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold {
    /// `None`: each kind on its own, against the same figures.
    pub kind: Option<Kind>,
    pub count: u32,
    pub window_secs: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThresholdError {
    #[error("{0:?}: write COUNT/DURATION, e.g. 20/1m or relay:20/1m")]
    Form(String),
    #[error("{0:?}: the kind is one of relay, auth, pipelining, lost")]
    Kind(String),
    #[error("{0:?}: the count is a whole number from 1 to 1000000")]
    Count(String),
    #[error("{0:?}: the duration is a number with s, m or h (1s to 24h), e.g. 30s, 1m, 1h")]
    Duration(String),
}

/// Counts above this would make a window's memory (one timestamp per event) worth a limit.
const MAX_COUNT: u32 = 1_000_000;

impl std::str::FromStr for Threshold {
    type Err = ThresholdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (kind, rest) = match text.split_once(':') {
            Some((k, rest)) => (
                Some(Kind::from_key(k).ok_or_else(|| ThresholdError::Kind(text.to_string()))?),
                rest,
            ),
            None => (None, text),
        };
        let (count, duration) = rest
            .split_once('/')
            .ok_or_else(|| ThresholdError::Form(text.to_string()))?;
        let count: u32 = count
            .parse()
            .ok()
            .filter(|c| (1..=MAX_COUNT).contains(c))
            .ok_or_else(|| ThresholdError::Count(text.to_string()))?;
        let window_secs =
            parse_duration(duration).ok_or_else(|| ThresholdError::Duration(text.to_string()))?;
        Ok(Threshold {
            kind,
            count,
            window_secs,
        })
    }
}

/// "30s", "1m", "2h"; from one second to a day.
pub fn parse_duration(text: &str) -> Option<i64> {
    let unit = text.chars().last()?;
    let number: i64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    let secs = match unit {
        's' => number,
        'm' => number.checked_mul(60)?,
        'h' => number.checked_mul(3600)?,
        _ => return None,
    };
    (1..=86_400).contains(&secs).then_some(secs)
}

impl std::fmt::Display for Threshold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(k) = self.kind {
            write!(f, "{}:", k.key())?;
        }
        write!(f, "{}/{}", self.count, duration_text(self.window_secs))
    }
}

pub fn duration_text(secs: i64) -> String {
    if secs % 3600 == 0 {
        format!("{}h", secs / 3600)
    } else if secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// A threshold crossed or cleared.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Alert {
    pub state: AlertState,
    pub kind: &'static str,
    pub threshold: String,
    /// Events within the window when it was crossed (at least the threshold's count).
    pub count: u64,
    /// When the window began and when this happened, seconds since the epoch (the log's time).
    pub window_start: i64,
    pub at: i64,
    /// The client with the most events of this kind in the window.
    pub top_client: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Crossed,
    Cleared,
}

/// One threshold watched for one kind: the times of the last `count` events, enough to tell
/// whether `count` fell within a window.
#[derive(Debug)]
pub struct Watcher {
    pub kind: Kind,
    pub threshold: Threshold,
    recent: VecDeque<(i64, String)>,
    crossed: bool,
    /// Events counted within the window while crossed, for the alert's figure.
    peak: u64,
}

impl Watcher {
    pub fn new(kind: Kind, threshold: Threshold) -> Watcher {
        Watcher {
            kind,
            threshold,
            recent: VecDeque::new(),
            crossed: false,
            peak: 0,
        }
    }

    /// Every (kind, threshold) pair the given thresholds ask for.
    pub fn all(thresholds: &[Threshold]) -> Vec<Watcher> {
        thresholds
            .iter()
            .flat_map(|t| {
                let kinds: Vec<Kind> = match t.kind {
                    Some(k) => vec![k],
                    None => Kind::ALL.to_vec(),
                };
                kinds.into_iter().map(move |k| Watcher::new(k, *t))
            })
            .collect()
    }

    /// An event of this watcher's kind at `time` from `client`: the alerts it raises, in
    /// order (a window that went quiet clears before this event can cross it again).
    pub fn event(&mut self, time: i64, client: &str) -> Vec<Alert> {
        let mut alerts: Vec<Alert> = self.expire(time).into_iter().collect();
        self.recent.push_back((time, client.to_string()));
        // Only the last `count` matter: if they fit in the window, the threshold is met.
        while self.recent.len() > self.threshold.count as usize {
            self.recent.pop_front();
        }
        if self.crossed {
            self.peak += 1;
            return alerts;
        }
        let full = self.recent.len() == self.threshold.count as usize;
        let start = self.recent.front().map_or(time, |r| r.0);
        if full && time - start < self.threshold.window_secs {
            self.crossed = true;
            self.peak = self.recent.len() as u64;
            alerts.push(self.alert(AlertState::Crossed, start, time));
        }
        alerts
    }

    /// Time passed to `now` with no event: the alert clears once a whole window is quiet
    /// enough.
    pub fn tick(&mut self, now: i64) -> Option<Alert> {
        self.expire(now)
    }

    /// Drops events older than the window before `now`; if crossed and fewer than the
    /// threshold remain, the alert clears.
    fn expire(&mut self, now: i64) -> Option<Alert> {
        let window = self.threshold.window_secs;
        while self.recent.front().is_some_and(|r| now - r.0 >= window) {
            self.recent.pop_front();
        }
        if self.crossed && self.recent.len() < self.threshold.count as usize {
            self.crossed = false;
            let alert = Alert {
                count: self.peak,
                ..self.alert(AlertState::Cleared, now - window, now)
            };
            self.peak = 0;
            return Some(alert);
        }
        None
    }

    fn alert(&self, state: AlertState, window_start: i64, at: i64) -> Alert {
        let mut counts: Vec<(&str, usize)> = Vec::new();
        for (_, c) in &self.recent {
            match counts.iter_mut().find(|(k, _)| k == c) {
                Some((_, n)) => *n += 1,
                None => counts.push((c.as_str(), 1)),
            }
        }
        let top = counts
            .iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
            .map(|(c, _)| (*c).to_string());
        Alert {
            state,
            kind: self.kind.key(),
            threshold: self.threshold.to_string(),
            count: self.recent.len() as u64,
            window_start,
            at,
            top_client: top,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse_and_refuse_with_the_form_to_write() {
        let t: Threshold = "20/1m".parse().unwrap();
        assert_eq!((t.kind, t.count, t.window_secs), (None, 20, 60));
        let t: Threshold = "auth:5/30s".parse().unwrap();
        assert_eq!(t.kind, Some(Kind::AuthFailed));
        assert_eq!(t.to_string(), "auth_failed:5/30s");
        for bad in [
            "20",
            "x/1m",
            "0/1m",
            "20/1d",
            "20/0s",
            "20/25h",
            "nope:1/1m",
            "20/m",
        ] {
            assert!(bad.parse::<Threshold>().is_err(), "{bad}");
        }
        assert!(
            "x/1m"
                .parse::<Threshold>()
                .unwrap_err()
                .to_string()
                .contains("whole number")
        );
    }

    #[test]
    fn crossing_then_clearing_in_log_time() {
        let t: Threshold = "3/1m".parse().unwrap();
        let mut w = Watcher::new(Kind::RelayDenied, t);
        assert_eq!(w.event(0, "a"), []);
        assert_eq!(w.event(10, "b"), []);
        // Three within a minute: crossed, once.
        let a = w.event(20, "a").pop().unwrap();
        assert_eq!(a.state, AlertState::Crossed);
        assert_eq!((a.count, a.window_start, a.at), (3, 0, 20));
        assert_eq!(a.top_client.as_deref(), Some("a"));
        assert_eq!(w.event(21, "a"), [], "still crossed: no second alert");
        // A quiet minute later it clears.
        assert_eq!(w.tick(50), None);
        let c = w.tick(200).unwrap();
        assert_eq!(c.state, AlertState::Cleared);
        assert_eq!(c.count, 4, "the peak while crossed");
        // Spread out, the same count never crosses.
        for i in 0..10 {
            assert_eq!(w.event(1000 + i * 31, "c"), []);
        }
    }

    /// A burst that thins out and picks up again within one window: the alert clears before
    /// it crosses again, never two crossings in a row.
    #[test]
    fn a_clear_comes_between_two_crossings() {
        let t: Threshold = "3/1m".parse().unwrap();
        let mut w = Watcher::new(Kind::RelayDenied, t);
        let mut states = Vec::new();
        for time in [0, 1, 2, 61, 62, 63, 200] {
            states.extend(w.event(time, "a").into_iter().map(|a| a.state));
        }
        states.extend(w.tick(400).map(|a| a.state));
        assert_eq!(
            states,
            [
                AlertState::Crossed,
                AlertState::Cleared,
                AlertState::Crossed,
                AlertState::Cleared
            ]
        );
    }
}
