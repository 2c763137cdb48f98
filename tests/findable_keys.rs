//! Findable keys and texts that hold (issue 27): the command palette (Ctrl-P) lists every action by name with its
//! key and runs it from any focus, the editor included, where `p`, `v` or `q` type letters;
//! a click on a pane focuses it; each session in the transcript says whose it is; the "last
//! reply" strip never explains another profile's reply.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use smtpscope::profile::Profile;
use smtpscope::scenario::Catalogue;
use smtpscope::tui::message::Message;
use smtpscope::tui::state::{Focus, Overlay, ProfileEntry, State};
use smtpscope::tui::update::update;
use smtpscope::tui::view::{Theme, view};

fn state() -> State {
    let profile = Profile::parse(
        "server = \"127.0.0.1:9\"\ntls = \"none\"\n",
        std::path::Path::new("a.toml"),
    )
    .unwrap();
    State::new(
        vec![
            ProfileEntry {
                name: "alpha".into(),
                profile: profile.clone(),
                saved: false,
            },
            ProfileEntry {
                name: "beta".into(),
                profile,
                saved: false,
            },
        ],
        Catalogue::built_in()
            .entries
            .into_iter()
            .map(|e| e.scenario)
            .collect(),
    )
}

fn press(s: &mut State, code: KeyCode, mods: KeyModifiers) {
    let _ = update(s, Message::Key(KeyEvent::new(code, mods)));
}

fn type_text(s: &mut State, text: &str) {
    for c in text.chars() {
        press(s, KeyCode::Char(c), KeyModifiers::NONE);
    }
}

fn draw(s: &State, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| view(s, f, Theme { color: false })).unwrap();
    let buf = t.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

#[test]
fn ctrl_p_from_the_editor_finds_the_profile_list_by_name() {
    let mut s = state();
    s.focus = Focus::Editor;
    // In the editor, p is a letter.
    type_text(&mut s, "p");
    assert!(s.overlay.is_none());
    assert_eq!(s.editor.text(), "p");
    press(&mut s, KeyCode::Char('p'), KeyModifiers::CONTROL);
    assert!(matches!(s.overlay, Some(Overlay::Palette(_))));
    let screen = draw(&s, 80, 24);
    assert!(screen.contains("Actions:"), "{screen}");
    // Each action with its key.
    assert!(screen.contains("quit"), "{screen}");
    type_text(&mut s, "profiles");
    let screen = draw(&s, 80, 24);
    assert!(screen.contains("profiles (pick, add, rename…)"), "{screen}");
    assert!(screen.contains(" p"), "its key is shown: {screen}");
    press(&mut s, KeyCode::Enter, KeyModifiers::NONE);
    assert!(
        matches!(s.overlay, Some(Overlay::Profiles(_))),
        "{:?}",
        s.overlay
    );
    // What was typed in the editor is still there.
    assert_eq!(s.editor.text(), "p");
}

#[test]
fn the_palette_closes_with_esc_and_runs_nothing_that_does_not_match() {
    let mut s = state();
    press(&mut s, KeyCode::Char('p'), KeyModifiers::CONTROL);
    type_text(&mut s, "zzzz");
    let screen = draw(&s, 60, 20);
    assert!(screen.contains("no action matches"), "{screen}");
    press(&mut s, KeyCode::Enter, KeyModifiers::NONE);
    assert!(matches!(s.overlay, Some(Overlay::Palette(_))));
    press(&mut s, KeyCode::Esc, KeyModifiers::NONE);
    assert!(s.overlay.is_none());
}

/// Ctrl-P opens the palette over any pane (help, the TLS pane, capabilities, history, compare,
/// the profile list, the profile editor); Esc brings the pane back as it was, and an action
/// run from the palette runs on the main screen.
#[test]
fn ctrl_p_opens_the_palette_over_every_pane() {
    let ctrl_p = |s: &mut State| press(s, KeyCode::Char('p'), KeyModifiers::CONTROL);
    type Open = fn(&mut State);
    let opened: [(&str, Open); 7] = [
        ("help", |s| press(s, KeyCode::F(1), KeyModifiers::NONE)),
        ("tls", |s| press(s, KeyCode::Char('t'), KeyModifiers::NONE)),
        ("capabilities", |s| {
            press(s, KeyCode::Char('c'), KeyModifiers::NONE)
        }),
        ("teaching", |s| {
            press(s, KeyCode::Char('i'), KeyModifiers::NONE)
        }),
        ("compare", |s| {
            press(s, KeyCode::Char('v'), KeyModifiers::NONE)
        }),
        ("profiles", |s| {
            press(s, KeyCode::Char('p'), KeyModifiers::NONE)
        }),
        ("editor", |s| {
            press(s, KeyCode::Char('e'), KeyModifiers::NONE)
        }),
    ];
    for (name, open) in opened {
        let mut s = state();
        open(&mut s);
        assert!(s.overlay.is_some(), "{name} opened");
        let before = format!("{:?}", s.overlay);
        ctrl_p(&mut s);
        assert!(
            matches!(s.overlay, Some(Overlay::Palette(_))),
            "Ctrl-P over {name}: {:?}",
            s.overlay
        );
        let screen = draw(&s, 80, 24);
        assert!(screen.contains("Actions:"), "{name}: {screen}");
        // Esc: back to the pane, as it was.
        press(&mut s, KeyCode::Esc, KeyModifiers::NONE);
        assert_eq!(format!("{:?}", s.overlay), before, "{name}");
        // An action run from the palette: the pane gives way to it.
        ctrl_p(&mut s);
        type_text(&mut s, "next pane");
        press(&mut s, KeyCode::Enter, KeyModifiers::NONE);
        assert!(s.overlay.is_none(), "{name}: {:?}", s.overlay);
    }
}

#[test]
fn a_click_on_a_pane_focuses_it() {
    let mut s = state();
    let _ = draw(&s, 120, 35);
    let click = |column, row| {
        Message::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    let panes = s.panes.get();
    let _ = update(
        &mut s,
        click(panes.transcript.x + 5, panes.transcript.y + 3),
    );
    assert_eq!(s.focus, Focus::Transcript);
    let _ = update(&mut s, click(panes.editor.x + 5, panes.editor.y + 1));
    assert_eq!(s.focus, Focus::Editor);
    let _ = update(&mut s, click(panes.verdict.x + 2, panes.verdict.y + 2));
    assert_eq!(s.focus, Focus::Picker);
}

fn entry(kind: smtpscope::transcript::EntryKind) -> Message {
    Message::Net(Box::new(smtpscope::tui::message::NetEvent::Entry(
        smtpscope::transcript::Entry {
            at: std::time::Duration::ZERO,
            tls: false,
            kind,
        },
    )))
}

/// Each session opens with whose it is (profile, server, scenario), so sessions of two
/// profiles never run together; and after a switch the "last reply" strip no longer explains
/// the other profile's reply.
#[test]
fn sessions_are_marked_and_the_strip_forgets_the_other_profiles_reply() {
    use smtpscope::transcript::{EntryKind, Event};
    let mut s = state();
    let _ = update(
        &mut s,
        entry(EntryKind::Event(Event::Connecting {
            target: "127.0.0.1:9".into(),
        })),
    );
    let reply = smtpscope::smtp::reply::ReplyParser::default()
        .feed(b"250 2.0.0 Ok\r\n")
        .reply
        .unwrap();
    let _ = update(
        &mut s,
        entry(EntryKind::Received {
            reply,
            latency: None,
        }),
    );
    let lines = &s.transcript.lines;
    assert_eq!(
        lines.text(0),
        "── session: alpha · 127.0.0.1:9 · commands typed by hand"
    );
    assert_eq!(lines.text(1), "connecting to 127.0.0.1:9");
    let screen = draw(&s, 120, 35);
    assert!(screen.contains("last reply: 250"), "{screen}");
    s.switch_profile(1);
    let screen = draw(&s, 120, 35);
    assert!(!screen.contains("last reply: 250"), "{screen}");
}

/// After a restart, the lists show each saved profile's last verdicts from its run history
/// (they said "none yet" while `H` showed the runs); an edited run is no verdict.
#[test]
fn the_lists_recall_last_verdicts_from_history_after_a_restart() {
    use smtpscope::scenario::Verdict;
    let dir = tempfile::tempdir().unwrap();
    let history = smtpscope::history::History::new(dir.path());
    let run = |verdict: &str, edited: bool| {
        serde_json::json!({
            "target": {"server": "127.0.0.1:9", "profile": "alpha"},
            "results": [
                {"id": "unauth-relay", "verdict": verdict, "reason": "r", "steps": [],
                 "edited": if edited { vec!["RCPT"] } else { Vec::<&str>::new() }},
                {"id": "starttls", "verdict": "pass", "reason": "r", "steps": []}
            ]
        })
    };
    let t0: jiff::Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
    let t1: jiff::Timestamp = "2026-12-01T11:00:00Z".parse().unwrap();
    history.save("alpha", t0, &run("fail", false)).unwrap();
    // The newest run was edited: it is no verdict, so the older FAIL stands.
    history.save("alpha", t1, &run("pass", true)).unwrap();
    let mut s = state();
    for p in &mut s.profiles.entries {
        p.saved = true;
    }
    smtpscope::tui::recall_verdicts_from(&mut s, &history);
    assert_eq!(s.verdicts.get("alpha", "unauth-relay"), Some(Verdict::Fail));
    assert_eq!(s.verdicts.get("alpha", "starttls"), Some(Verdict::Pass));
    assert_eq!(s.verdicts.get("beta", "unauth-relay"), None);
    let _ = update(
        &mut s,
        Message::Key(KeyEvent::new(KeyCode::Char('p'), KeyModifiers::NONE)),
    );
    let screen = draw(&s, 120, 35);
    assert!(screen.contains("FAIL"), "{screen}");
    assert!(
        !screen.contains("none yet") || screen.matches("none yet").count() == 1,
        "{screen}"
    );
}

/// While the banner is awaited, the status bar says so, as the transcript says "connected";
/// it said "not connected".
#[test]
fn the_status_says_connected_while_the_banner_is_awaited() {
    use smtpscope::transcript::{EntryKind, Event};
    let mut s = state();
    let _ = update(
        &mut s,
        entry(EntryKind::Event(Event::Connecting {
            target: "127.0.0.1:9".into(),
        })),
    );
    let _ = update(
        &mut s,
        entry(EntryKind::Event(Event::Connected {
            peer: "127.0.0.1:9".into(),
        })),
    );
    let screen = draw(&s, 120, 35);
    let status = screen.lines().next().unwrap_or_default();
    assert!(status.contains("awaiting banner"), "{status}");
    assert!(!status.contains("not connected"), "{status}");
    assert!(screen.contains("connected to 127.0.0.1:9"), "{screen}");
}

/// The reply-code strip ends in "…" where its explanation needs more than two rows; `m` in the
/// transcript shows it whole, and again brings it back to two rows.
#[test]
fn m_expands_the_reply_code_strip() {
    use smtpscope::transcript::EntryKind;
    let mut s = state();
    let _ = update(
        &mut s,
        entry(EntryKind::Sent {
            bytes: b"RCPT TO:<a@elsewhere.example>\r\n".to_vec(),
            redacted: false,
        }),
    );
    let reply = smtpscope::smtp::reply::ReplyParser::default()
        .feed(b"550 5.7.1 <a@elsewhere.example>: Relay access denied\r\n")
        .reply
        .unwrap();
    let _ = update(
        &mut s,
        entry(EntryKind::Received {
            reply,
            latency: None,
        }),
    );
    let screen = draw(&s, 60, 20);
    assert!(
        !screen.contains("relay denied"),
        "cut at 60 columns: {screen}"
    );
    s.focus = Focus::Transcript;
    type_text(&mut s, "m");
    let screen = draw(&s, 60, 20);
    assert!(screen.contains("relay denied"), "{screen}");
    type_text(&mut s, "m");
    assert!(!draw(&s, 60, 20).contains("relay denied"));
}

/// `/` searches a pane over the screen (help, explanations, TLS, capabilities, history) as it
/// does the transcript: every match marked, "1 of N" in the border, `n` the next, and a query
/// with no match says so (issue 27).
#[test]
fn panes_are_searched_like_the_transcript() {
    let mut s = state();
    press(&mut s, KeyCode::F(1), KeyModifiers::NONE);
    let first = draw(&s, 80, 24);
    press(&mut s, KeyCode::Char('/'), KeyModifiers::NONE);
    type_text(&mut s, "clipboard");
    let typing = draw(&s, 80, 24);
    assert!(
        typing.contains("/clipboard"),
        "the query shows as typed: {typing}"
    );
    press(&mut s, KeyCode::Enter, KeyModifiers::NONE);
    let found = draw(&s, 80, 24);
    assert!(
        matches!(s.overlay, Some(Overlay::Help { .. })),
        "still the help"
    );
    let total = found
        .lines()
        .find_map(|l| {
            let at = l.find("1 of ")?;
            l[at + 5..].split_whitespace().next()?.parse::<usize>().ok()
        })
        .unwrap_or_else(|| panic!("\"1 of N\" in the border: {found}"));
    assert!(total >= 2, "{found}");
    assert_ne!(found, first, "the pane moved to the match");
    // The first row shown holds the match.
    let rows: Vec<&str> = found.lines().collect();
    let title = rows
        .iter()
        .position(|l| l.contains(" Help "))
        .expect("the help's title");
    assert!(
        rows[title + 1].to_lowercase().contains("clipboard"),
        "{found}"
    );
    press(&mut s, KeyCode::Char('n'), KeyModifiers::NONE);
    let next = draw(&s, 80, 24);
    assert!(next.contains(&format!("2 of {total}")), "{next}");
    press(&mut s, KeyCode::Char('/'), KeyModifiers::NONE);
    type_text(&mut s, "zqzqzq");
    press(&mut s, KeyCode::Enter, KeyModifiers::NONE);
    let none = draw(&s, 80, 24);
    assert!(none.contains("no match for \"zqzqzq\""), "{none}");
    // Esc still closes the pane.
    press(&mut s, KeyCode::Esc, KeyModifiers::NONE);
    assert!(s.overlay.is_none());
}

/// A search that finds its text clears the "no match" an earlier search left (issue 27).
#[test]
fn a_successful_search_clears_the_old_no_match() {
    use smtpscope::transcript::EntryKind;
    let mut s = state();
    let _ = update(
        &mut s,
        entry(EntryKind::Sent {
            bytes: b"NOOP\r\n".to_vec(),
            redacted: false,
        }),
    );
    s.focus = Focus::Transcript;
    press(&mut s, KeyCode::Char('/'), KeyModifiers::NONE);
    type_text(&mut s, "absent");
    press(&mut s, KeyCode::Enter, KeyModifiers::NONE);
    assert!(
        s.notice
            .as_ref()
            .is_some_and(|(_, n)| n.starts_with("no match for")),
        "{:?}",
        s.notice
    );
    press(&mut s, KeyCode::Char('/'), KeyModifiers::NONE);
    type_text(&mut s, "noop");
    press(&mut s, KeyCode::Enter, KeyModifiers::NONE);
    assert_eq!(s.notice, None, "the old no-match is gone");
    let screen = draw(&s, 80, 24);
    assert!(!screen.contains("no match"), "{screen}");
}

/// At 60x20 an export's notice names the directory in full (it read "…/exports…"), F8's and
/// F9's notices differ (text, JSON), and a long error wraps onto more rows instead of being
/// cut (issue 27, "Fit at 80x24 and 60x20").
#[test]
fn export_paths_and_errors_fit_at_60x20() {
    use smtpscope::tui::message::NetEvent;
    let dir = "/home/someone/.local/share/smtpscope/exports";
    let mut said = Vec::new();
    for ext in ["txt", "json"] {
        let mut s = state();
        let path =
            std::path::PathBuf::from(format!("{dir}/smtpscope-20261207-112711.738-alpha.{ext}"));
        let _ = update(
            &mut s,
            Message::Net(Box::new(NetEvent::Exported(vec![path]))),
        );
        let screen = draw(&s, 60, 20);
        assert!(screen.contains(dir), "{screen}");
        assert!(!screen.contains("…/exports"), "{screen}");
        said.push(s.notice.clone().expect("a notice").1);
    }
    assert!(said[0].contains("as text"), "{said:?}");
    assert!(said[1].contains("as JSON"), "{said:?}");
    let mut s = state();
    let long = "cannot write /home/someone/.local/share/smtpscope/exports/x.txt: \
                Permission denied (os error 13); choose another directory with --export-dir \
                or the profile's export_dir ENDMARK";
    let _ = update(&mut s, Message::Net(Box::new(NetEvent::Info(long.into()))));
    let screen = draw(&s, 60, 20);
    assert!(
        screen.contains("ENDMARK"),
        "the end of the notice is shown: {screen}"
    );
}
