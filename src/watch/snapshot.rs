//! What the explorer's watch pane shows of a log being followed: a copy of the figures, made
//! by the reader and sent to the screen, so the screen never reads the file itself.

use std::collections::VecDeque;

use super::Watch;
use super::event::Kind;

/// Minutes shown in the pane's sparklines.
pub const MINUTES: usize = 60;
/// Offenders listed.
pub const OFFENDERS: usize = 10;
/// Event lines kept for showing the selected offender's.
pub const LINES_KEPT: usize = 500;

/// One client and what it drew, per kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offender {
    pub client: String,
    pub counts: [u64; 4],
}

impl Offender {
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub source: String,
    pub lines: u64,
    pub not_understood: u64,
    pub totals: [u64; 4],
    /// Events per minute of each kind, the last `MINUTES` minutes of the log, oldest first.
    pub per_minute: [Vec<u64>; 4],
    /// The heaviest clients over all kinds, heaviest first.
    pub offenders: Vec<Offender>,
    /// The last event lines, oldest first, with their client.
    pub recent: Vec<(String, String)>,
    /// Why the log cannot be read (then the rest is what was read before).
    pub error: Option<String>,
}

impl Snapshot {
    /// The figures of `watch` now; `recent` are the event lines kept by the reader.
    pub fn of(watch: &Watch, source: &str, recent: &VecDeque<(String, String)>) -> Snapshot {
        let t = &watch.tally;
        let mut per_minute: [Vec<u64>; 4] = Default::default();
        if let Some(&last) = t.per_minute.keys().next_back() {
            let first = last - MINUTES as i64 + 1;
            for kind in Kind::ALL {
                per_minute[kind.index()] = (first..=last)
                    .map(|m| {
                        t.per_minute
                            .get(&m)
                            .map_or(0, |c| u64::from(c[kind.index()]))
                    })
                    .collect();
            }
        }
        // Offenders over all kinds: the top of each kind's client table, merged.
        let mut offenders: Vec<Offender> = Vec::new();
        for kind in Kind::ALL {
            for (client, n) in t.kind(kind).by_client.top(OFFENDERS * 4) {
                match offenders.iter_mut().find(|o| o.client == client) {
                    Some(o) => o.counts[kind.index()] += n,
                    None => {
                        let mut counts = [0; 4];
                        counts[kind.index()] = n;
                        offenders.push(Offender {
                            client: client.to_string(),
                            counts,
                        });
                    }
                }
            }
        }
        offenders.sort_by(|a, b| b.total().cmp(&a.total()).then(a.client.cmp(&b.client)));
        offenders.truncate(OFFENDERS);
        Snapshot {
            source: source.to_string(),
            lines: t.lines,
            not_understood: t.not_understood,
            totals: Kind::ALL.map(|k| t.kind(k).total),
            per_minute,
            offenders,
            recent: recent.iter().cloned().collect(),
            error: None,
        }
    }

    /// The kept event lines of `client`, newest last.
    pub fn lines_of<'a>(&'a self, client: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.recent
            .iter()
            .filter(move |(c, _)| c == client)
            .map(|(_, l)| l.as_str())
    }
}
