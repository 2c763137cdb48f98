//! The transcript pane with 1,000 to 1,000,000 lines: time per frame at 80x24 and 200x60, and
//! the time to apply one keypress. `cargo bench --bench transcript_pane`

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use smtpscope::profile::Profile;
use smtpscope::scenario::Catalogue;
use smtpscope::smtp::reply::ReplyParser;
use smtpscope::transcript::{Entry, EntryKind};
use smtpscope::tui::message::Message;
use smtpscope::tui::state::{Focus, ProfileEntry, State};
use smtpscope::tui::update::update;
use smtpscope::tui::view::{Theme, view};

fn main() {
    // Memory: what the TUI holds for a transcript, against the transcript's own wire bytes.
    let lines = 1_000_000;
    let wire: usize = (0..lines)
        .map(|i| {
            if i % 2 == 0 {
                format!("RCPT TO:<user{i}@example.org>\r\n").len()
            } else {
                format!("250 2.1.5 Ok {i}\r\n").len()
            }
        })
        .sum();
    let s = state_with_lines(lines);
    let held = s.transcript.lines.heap_bytes();
    println!(
        "memory: {lines} lines, {wire} wire bytes, {held} bytes held by the TUI = {:.2}x",
        held as f64 / wire as f64
    );
    divan::main();
}

/// A state whose transcript holds `lines` lines: commands and replies alternating.
pub fn state_with_lines(lines: usize) -> State {
    let profile = Profile::parse(
        "server = \"mx.example.com:25\"\n",
        std::path::Path::new("b.toml"),
    )
    .unwrap();
    let cat = Catalogue::built_in()
        .entries
        .into_iter()
        .map(|e| e.scenario)
        .collect();
    let mut s = State::new(
        vec![ProfileEntry {
            name: "b".into(),
            profile,
            saved: true,
        }],
        cat,
    );
    for i in 0..lines {
        let at = Duration::from_millis(i as u64);
        let e = if i % 2 == 0 {
            Entry {
                at,
                tls: true,
                kind: EntryKind::Sent {
                    bytes: format!("RCPT TO:<user{i}@example.org>\r\n").into_bytes(),
                    redacted: false,
                },
            }
        } else {
            let reply = ReplyParser::default()
                .feed(format!("250 2.1.5 Ok {i}\r\n").as_bytes())
                .reply
                .unwrap();
            Entry {
                at,
                tls: true,
                kind: EntryKind::Received {
                    reply,
                    latency: Some(Duration::from_millis(1)),
                },
            }
        };
        s.push_entry(&e);
    }
    s
}

const SIZES: &[usize] = &[1_000, 100_000, 1_000_000];

#[divan::bench(args = SIZES)]
fn frame_80x24(bencher: divan::Bencher, lines: usize) {
    let s = state_with_lines(lines);
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    bencher.bench_local(|| {
        t.draw(|f| view(&s, f, Theme { color: true })).unwrap();
    });
}

#[divan::bench(args = SIZES)]
fn frame_200x60(bencher: divan::Bencher, lines: usize) {
    let s = state_with_lines(lines);
    let mut t = Terminal::new(TestBackend::new(200, 60)).unwrap();
    bencher.bench_local(|| {
        t.draw(|f| view(&s, f, Theme { color: true })).unwrap();
    });
}

/// Every line 300 characters long: at 80 columns each wraps onto about ten rows, so the frame
/// measures the wrapping of the lines in view (and only those).
#[divan::bench(args = SIZES)]
fn frame_80x24_long_lines_wrapped(bencher: divan::Bencher, lines: usize) {
    let mut s = state_with_lines(0);
    let long = "x".repeat(120);
    for i in 0..lines {
        s.push_entry(&Entry {
            at: Duration::from_millis(i as u64),
            tls: false,
            kind: EntryKind::Sent {
                bytes: format!("NOOP {i} {long} {long}\r\n").into_bytes(),
                redacted: false,
            },
        });
    }
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    bencher.bench_local(|| {
        t.draw(|f| view(&s, f, Theme { color: true })).unwrap();
    });
}

fn key(code: KeyCode) -> Message {
    Message::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

#[divan::bench(args = [1_000_000])]
fn keypress_page_up(bencher: divan::Bencher, lines: usize) {
    let mut s = state_with_lines(lines);
    s.focus = Focus::Transcript;
    bencher.bench_local(|| {
        update(&mut s, key(KeyCode::PageUp));
    });
}

#[divan::bench(args = [1_000_000])]
fn keypress_end(bencher: divan::Bencher, lines: usize) {
    let mut s = state_with_lines(lines);
    s.focus = Focus::Transcript;
    bencher.bench_local(|| {
        update(&mut s, key(KeyCode::Home));
        update(&mut s, key(KeyCode::End));
    });
}

/// `n` with the only match far away (what used to be the worst case: a scan of most of the
/// transcript). The query's matches are indexed when it is set (the first `n` or Enter, see
/// `search_enter`), so this is a binary search.
#[divan::bench(args = [1_000_000], sample_count = 20)]
fn keypress_search_next(bencher: divan::Bencher, lines: usize) {
    let mut s = state_with_lines(lines);
    s.focus = Focus::Transcript;
    s.transcript.search = Some("user999998@".into());
    update(&mut s, key(KeyCode::Char('n')));
    bencher.bench_local(|| {
        s.transcript.selected_line = Some(0);
        update(&mut s, key(KeyCode::Char('n')));
    });
}

/// `n` through a query with 100 matches spread over the transcript ("3 of 100").
#[divan::bench(args = [1_000_000], sample_count = 20)]
fn keypress_search_next_many(bencher: divan::Bencher, lines: usize) {
    let mut s = state_with_lines(lines);
    s.focus = Focus::Transcript;
    s.transcript.search = Some("0000@".into());
    update(&mut s, key(KeyCode::Char('n')));
    bencher.bench_local(|| {
        update(&mut s, key(KeyCode::Char('n')));
    });
}

/// A new query (Enter after `/`): the one scan that finds and counts every match, the cost
/// `n` paid on every press before the index.
#[divan::bench(args = [1_000_000], sample_count = 20)]
fn search_enter(bencher: divan::Bencher, lines: usize) {
    let mut s = state_with_lines(lines);
    s.focus = Focus::Transcript;
    let queries = ["user999998@", "user999996@"];
    let mut i = 0;
    bencher.bench_local(|| {
        i += 1;
        s.transcript.search = Some(queries[i % 2].into());
        s.transcript.selected_line = Some(0);
        update(&mut s, key(KeyCode::Char('n')));
    });
}
