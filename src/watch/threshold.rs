//! Thresholds ("20 relay denials within a minute") and the alerts they raise: crossed when
//! the count within the sliding window reaches the threshold, cleared when a full window
//! passes with fewer. Times are the log's own, so a summary of yesterday's log alerts on
//! yesterday's spikes.

use std::collections::VecDeque;

use super::event::Kind;

/// `[KIND:]COUNT/DURATION`, e.g. `20/1m` (every kind) or `auth:5/30s`; or a rate relative to
/// the usual one, `[KIND:]FACTORx/DURATION` (`relay:5x/1m`: five times the usual rate, the
/// usual rate being the one over the baseline window before).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold {
    /// `None`: each kind on its own, against the same figures.
    pub kind: Option<Kind>,
    /// Events within the window; with `times`, the factor over the usual rate.
    pub count: u32,
    pub window_secs: i64,
    /// A rate relative to the baseline (`5x`), not a count.
    pub times: bool,
}

/// The usual rate is taken over this long before the window, unless `--baseline-window` says.
pub const DEFAULT_BASELINE_SECS: i64 = 3600;

/// A spike needs this many events in its window whatever the baseline: three against a usual
/// zero is noise, not an attack.
pub const SPIKE_FLOOR: u64 = 10;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThresholdError {
    #[error("{0:?}: write COUNT/DURATION, e.g. 20/1m or relay:20/1m")]
    Form(String),
    #[error("{0:?}: the kind is one of relay, auth, pipelining, lost")]
    Kind(String),
    #[error(
        "{0:?}: the count is a whole number from 1 to 1000000, or a factor over the usual rate from 2x"
    )]
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
        let (count, times) = match count.strip_suffix('x') {
            Some(factor) => (factor, true),
            None => (count, false),
        };
        let count: u32 = count
            .parse()
            .ok()
            .filter(|c| (1..=MAX_COUNT).contains(c) && (!times || *c >= 2))
            .ok_or_else(|| ThresholdError::Count(text.to_string()))?;
        let window_secs =
            parse_duration(duration).ok_or_else(|| ThresholdError::Duration(text.to_string()))?;
        Ok(Threshold {
            kind,
            count,
            window_secs,
            times,
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
        let times = if self.times { "x" } else { "" };
        write!(
            f,
            "{}{times}/{}",
            self.count,
            duration_text(self.window_secs)
        )
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
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
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
    /// For a rate threshold: the usual count per window, over the baseline before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usual: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Crossed,
    Cleared,
}

/// One threshold watched for one kind. A count threshold keeps the times of the last `count`
/// events, enough to tell whether `count` fell within a window. A rate threshold keeps
/// per-second counts over the baseline window and the window after it, with running sums.
#[derive(Debug)]
pub struct Watcher {
    pub kind: Kind,
    pub threshold: Threshold,
    baseline_secs: i64,
    /// The last events (a count threshold: the last `count`; a rate threshold: those in the
    /// window, at most `RECENT_KEPT`), for the count and the top client.
    recent: VecDeque<(i64, String)>,
    /// Rate thresholds: per-second counts in the window, and in the baseline before it.
    in_window: VecDeque<(i64, u64)>,
    in_baseline: VecDeque<(i64, u64)>,
    window_sum: u64,
    baseline_sum: u64,
    first_seen: Option<i64>,
    crossed: bool,
    /// Events counted within the window while crossed, for the alert's figure.
    peak: u64,
}

/// Events of a rate window kept for naming the top client: the most recent ones.
const RECENT_KEPT: usize = 10_000;

impl Watcher {
    pub fn new(kind: Kind, threshold: Threshold, baseline_secs: i64) -> Watcher {
        Watcher {
            kind,
            threshold,
            baseline_secs,
            recent: VecDeque::new(),
            in_window: VecDeque::new(),
            in_baseline: VecDeque::new(),
            window_sum: 0,
            baseline_sum: 0,
            first_seen: None,
            crossed: false,
            peak: 0,
        }
    }

    /// Every (kind, threshold) pair the given thresholds ask for.
    pub fn all(thresholds: &[Threshold], baseline_secs: i64) -> Vec<Watcher> {
        thresholds
            .iter()
            .flat_map(|t| {
                let kinds: Vec<Kind> = match t.kind {
                    Some(k) => vec![k],
                    None => Kind::ALL.to_vec(),
                };
                kinds
                    .into_iter()
                    .map(move |k| Watcher::new(k, *t, baseline_secs))
            })
            .collect()
    }

    /// An event of this watcher's kind at `time` from `client`: the alerts it raises, in
    /// order (a window that went quiet clears before this event can cross it again).
    pub fn event(&mut self, time: i64, client: &str) -> Vec<Alert> {
        if self.threshold.times {
            return self.rate_event(time, client);
        }
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
        if self.threshold.times {
            self.advance(now);
            return self.judge_rate(now, false);
        }
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

    fn rate_event(&mut self, time: i64, client: &str) -> Vec<Alert> {
        // Lines slightly out of order (several files, clock steps) count at the newest time.
        let time = match self.in_window.back() {
            Some(&(last, _)) if time < last => last,
            _ => time,
        };
        self.first_seen.get_or_insert(time);
        self.advance(time);
        match self.in_window.back_mut() {
            Some((t, n)) if *t == time => *n += 1,
            _ => self.in_window.push_back((time, 1)),
        }
        self.window_sum += 1;
        self.recent.push_back((time, client.to_string()));
        if self.recent.len() > RECENT_KEPT {
            self.recent.pop_front();
        }
        let mut alerts = Vec::new();
        // An event can only raise the count: it may cross, never clear.
        if let Some(a) = self.judge_rate(time, true) {
            alerts.push(a);
        }
        alerts
    }

    /// Moves the per-second counts along to `now`: out of the window into the baseline, and
    /// out of the baseline altogether.
    fn advance(&mut self, now: i64) {
        let window = self.threshold.window_secs;
        while let Some(&(t, n)) = self.in_window.front() {
            if now - t < window {
                break;
            }
            self.in_window.pop_front();
            self.window_sum -= n;
            self.in_baseline.push_back((t, n));
            self.baseline_sum += n;
        }
        while let Some(&(t, n)) = self.in_baseline.front() {
            if now - t < window + self.baseline_secs {
                break;
            }
            self.in_baseline.pop_front();
            self.baseline_sum -= n;
        }
        while self.recent.front().is_some_and(|r| now - r.0 >= window) {
            self.recent.pop_front();
        }
    }

    /// The usual count per window at `now`: the baseline's events scaled to one window, once
    /// the log covers at least one window before this one.
    fn usual(&self, now: i64) -> Option<f64> {
        let window = self.threshold.window_secs;
        let covered = (now - window - self.first_seen?).min(self.baseline_secs);
        (covered >= window).then(|| self.baseline_sum as f64 * window as f64 / covered as f64)
    }

    fn judge_rate(&mut self, now: i64, may_cross: bool) -> Option<Alert> {
        let usual = self.usual(now);
        let count = self.window_sum;
        let spike = usual.is_some_and(|u| {
            count >= SPIKE_FLOOR && count as f64 >= f64::from(self.threshold.count) * u
        });
        let window = self.threshold.window_secs;
        if self.crossed {
            self.peak = self.peak.max(count);
            if !spike {
                self.crossed = false;
                let alert = Alert {
                    count: std::mem::take(&mut self.peak),
                    usual,
                    ..self.alert(AlertState::Cleared, now - window, now)
                };
                return Some(alert);
            }
            return None;
        }
        if may_cross && spike {
            self.crossed = true;
            self.peak = count;
            return Some(Alert {
                count,
                usual,
                ..self.alert(AlertState::Crossed, now - window + 1, now)
            });
        }
        None
    }

    fn alert(&self, state: AlertState, window_start: i64, at: i64) -> Alert {
        let mut counts: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for (_, c) in &self.recent {
            *counts.entry(c.as_str()).or_default() += 1;
        }
        let top = counts
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(c, _)| (*c).to_string());
        Alert {
            state,
            kind: self.kind.key(),
            threshold: self.threshold.to_string(),
            count: self.recent.len() as u64,
            window_start,
            at,
            top_client: top,
            usual: None,
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
        let mut w = Watcher::new(Kind::RelayDenied, t, DEFAULT_BASELINE_SECS);
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
        let mut w = Watcher::new(Kind::RelayDenied, t, DEFAULT_BASELINE_SECS);
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

    #[test]
    fn a_rate_threshold_needs_a_baseline_and_the_floor() {
        let t: Threshold = "relay:5x/1m".parse().unwrap();
        assert!(t.times);
        assert_eq!(t.to_string(), "relay_denied:5x/1m");
        assert!(
            "relay:1x/1m".parse::<Threshold>().is_err(),
            "a factor of 1 is no spike"
        );
        let mut w = Watcher::new(Kind::RelayDenied, t, 3600);
        // A burst in the log's first minute: no usual rate yet, so no spike.
        let mut alerts = Vec::new();
        for i in 0..50 {
            alerts.extend(w.event(i, "a"));
        }
        assert!(alerts.is_empty(), "{alerts:?}");
    }

    #[test]
    fn five_times_the_usual_rate_crosses_and_clears_when_it_calms() {
        let t: Threshold = "relay:5x/1m".parse().unwrap();
        let mut w = Watcher::new(Kind::RelayDenied, t, 3600);
        let mut alerts = Vec::new();
        // An hour at 3 a minute: the usual rate.
        for m in 0..60 {
            for k in 0..3 {
                alerts.extend(w.event(m * 60 + k * 20, "steady"));
            }
        }
        assert!(alerts.is_empty(), "{alerts:?}");
        // Then 20 in one minute: 20 >= 5 x 3, and over the floor.
        for k in 0..20 {
            alerts.extend(w.event(3600 + k * 3, "attacker"));
        }
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        let a = &alerts[0];
        assert_eq!(a.state, AlertState::Crossed);
        // Crossed once the window held five times the usual 3 (the window also holds the
        // steady events of the minute before, sliding out).
        let usual = a.usual.unwrap();
        assert!((2.9..=3.1).contains(&usual), "{usual}");
        assert!(
            a.count as f64 >= 5.0 * usual && a.count <= 17,
            "{}",
            a.count
        );
        assert_eq!(a.top_client.as_deref(), Some("attacker"));
        // A quiet stretch: it clears, with the peak.
        let c = w.tick(3600 + 200).unwrap();
        assert_eq!(c.state, AlertState::Cleared);
        assert_eq!(c.count, 20);
        // At twice the usual rate nothing crosses.
        let mut w = Watcher::new(Kind::RelayDenied, t, 3600);
        let mut alerts = Vec::new();
        for m in 0..120 {
            let per_minute = if m < 60 { 10 } else { 20 };
            for k in 0..per_minute {
                alerts.extend(w.event(m * 60 + k * 60 / per_minute, "x"));
            }
        }
        assert!(alerts.is_empty(), "{alerts:?}");
    }
}
