//! `smtpscope watch` on arbitrary log text: the envelope parser, the classifier and the
//! tally, fed line by line as `watch` feeds them, with the invariants a summary relies on.
//!
//! Input layout: the bytes are the log itself, split on newlines by the same splitter (so
//! lines of any length and any bytes, invalid UTF-8 included, reach the parser).

#![no_main]

use libfuzzer_sys::fuzz_target;
use smtpscope::watch::Watch;
use smtpscope::watch::event::Kind;
use smtpscope::watch::lines::for_each_line;
use smtpscope::watch::syslog::{self, Clock};
use smtpscope::watch::threshold::Threshold;

fuzz_target!(|data: &[u8]| {
    let clock = Clock {
        now: 1_796_623_200,
        year: 2026,
    };
    let thresholds: Vec<Threshold> = ["2/1m", "auth:1/1s", "relay:2x/10s"]
        .iter()
        .filter_map(|t| t.parse().ok())
        .collect();
    let mut watch = Watch::new(&thresholds, 60, clock);
    let mut lines = 0u64;
    let mut reader = data;
    let read = for_each_line(&mut reader, |line| {
        lines += 1;
        if let Ok(text) = std::str::from_utf8(line) {
            // The envelope's slices are the line's own.
            if let Some(l) = syslog::parse(text, &clock) {
                assert!(text.contains(l.program));
                assert!(text.contains(l.message));
            }
        }
        watch.line(line);
    });
    assert_eq!(read.ok(), Some(data.len() as u64));
    let t = &watch.tally;
    assert_eq!(t.lines, lines);
    assert!(t.not_understood <= t.lines);
    let events: u64 = Kind::ALL.iter().map(|k| t.kind(*k).total).sum();
    assert!(events <= t.lines - t.not_understood);
    let per_minute: u64 = t
        .per_minute
        .values()
        .flat_map(|c| c.iter())
        .map(|&n| u64::from(n))
        .sum();
    assert_eq!(per_minute, events);
    if let (Some(first), Some(last)) = (t.first, t.last) {
        assert!(first <= last);
    }
    // Alerts alternate per watcher: never cleared without a crossing before it.
    let crossed = watch
        .alerts
        .iter()
        .filter(|a| a.state == smtpscope::watch::threshold::AlertState::Crossed)
        .count();
    assert!(crossed * 2 + 1 >= watch.alerts.len());
});
