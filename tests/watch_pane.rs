//! The explorer's watch pane (`w`): the profile's `log_file` followed, its relay denials and
//! AUTH failures shown per minute with the top offenders and their lines, beside the
//! scenarios that test the same policy from outside; new lines show as they are written, and
//! Esc stops following.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::io::Write;
use std::time::Duration;

use common::stepping::Stepping;
use ratatui::crossterm::event::KeyCode;
use smtpscope::profile::Profile;
use smtpscope::tui::message::NetEvent;
use smtpscope::tui::state::Overlay;

fn denial(time: &str, client: &str) -> String {
    format!(
        "Dec  7 {time} mail postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[{client}]: 554 5.7.1 <x@evil.example>: Relay access denied; from=<a@b> to=<x@evil.example> proto=ESMTP helo=<h>\n"
    )
}

fn watched(ev: &NetEvent, lines: u64) -> bool {
    matches!(ev, NetEvent::Watch(s) if s.lines >= lines)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pane_follows_the_log_and_names_the_offenders() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mail.log");
    let mut text = String::new();
    for s in 0..6 {
        text.push_str(&denial(&format!("05:00:0{s}"), "203.0.113.9"));
    }
    text.push_str(&denial("05:01:00", "198.51.100.7"));
    text.push_str("Dec  7 05:01:10 mail postfix/smtpd[2]: warning: unknown[198.51.100.7]: SASL PLAIN authentication failed: \u{1b}]52;c;SGk=\u{7}\n");
    std::fs::write(&log, text).unwrap();
    let profile = Profile {
        server: "127.0.0.1:9".into(),
        log_file: Some(log.clone()),
        ..Profile::default()
    };
    let mut app = Stepping::new("mx", profile);
    assert!(
        app.press(KeyCode::Char('w')) > 0,
        "w asks the worker to follow the log"
    );
    assert!(matches!(app.state.overlay, Some(Overlay::Watch { .. })));
    assert!(
        app.wait_for(|ev| watched(ev, 8), Duration::from_secs(20))
            .await,
        "the log was read"
    );
    let screen = app.screen();
    assert!(
        screen.contains("8 lines, 0 not in a known form"),
        "{screen}"
    );
    assert!(
        screen.contains("relay denied 7 · AUTH failed 1"),
        "{screen}"
    );
    assert!(screen.contains("relay denied per minute"), "{screen}");
    // The heaviest offender first, selected, with its lines.
    let top = screen
        .lines()
        .position(|l| l.contains("> 203.0.113.9"))
        .unwrap_or_else(|| panic!("{screen}"));
    let next = screen
        .lines()
        .position(|l| l.contains("198.51.100.7"))
        .unwrap();
    assert!(top < next, "{screen}");
    assert!(screen.contains("lines of 203.0.113.9"), "{screen}");
    assert!(screen.contains("Relay access denied"), "{screen}");
    assert!(
        screen.contains("relay denied is tested from outside by: unauth-relay not run yet"),
        "{screen}"
    );
    // The other offender's lines, escaped: its SASL line carried an OSC 52 write.
    app.press(KeyCode::Down);
    let screen = app.screen();
    assert!(screen.contains("lines of 198.51.100.7"), "{screen}");
    assert!(
        screen.contains("SASL PLAIN authentication failed"),
        "{screen}"
    );
    assert!(!screen.contains('\u{1b}'), "{screen:?}");

    // Written while the pane is open: shown without a key pressed.
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    for s in 0..5 {
        f.write_all(denial(&format!("05:02:0{s}"), "192.0.2.66").as_bytes())
            .unwrap();
    }
    drop(f);
    assert!(
        app.wait_for(|ev| watched(ev, 13), Duration::from_secs(20))
            .await,
        "new lines were followed"
    );
    assert!(app.screen().contains("relay denied 12 · AUTH failed 1"));

    // Esc closes the pane and stops following.
    assert_eq!(
        app.press(KeyCode::Esc),
        1,
        "Esc hands StopWatch to the worker"
    );
    assert!(app.state.overlay.is_none());
    assert!(app.state.watch.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_log_file_the_pane_says_how_to_name_one() {
    let mut app = Stepping::new(
        "mx",
        Profile {
            server: "127.0.0.1:9".into(),
            ..Profile::default()
        },
    );
    assert_eq!(app.press(KeyCode::Char('w')), 0);
    let (_, notice) = app.state.notice.clone().unwrap();
    assert!(notice.contains("log_file"), "{notice}");
    // A log that is not a regular file is said as such in the pane.
    let mut app = Stepping::new(
        "mx",
        Profile {
            server: "127.0.0.1:9".into(),
            log_file: Some("/dev/zero".into()),
            ..Profile::default()
        },
    );
    app.press(KeyCode::Char('w'));
    assert!(
        app.wait_for(
            |ev| matches!(ev, NetEvent::Watch(s) if s.error.is_some()),
            Duration::from_secs(20)
        )
        .await
    );
    let screen = app.screen();
    assert!(screen.contains("cannot read /dev/zero"), "{screen}");
}
