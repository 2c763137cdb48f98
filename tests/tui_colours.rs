//! Colour carries meaning in the explorer (a verdict, whether TLS is up and verified, whether
//! the session is authenticated), so it is tested in a real terminal: the binary in a pty
//! against its own practice labs, each meaning checked in the cells the terminal holds.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use common::pty::{DOWN, ENTER, Tui};
use vt100::Color;

const GREEN: Color = Color::Idx(2);
const RED: Color = Color::Idx(1);
const YELLOW: Color = Color::Idx(3);
const CTRL_R: &str = "\x12";

fn status_bar(tui: &Tui) -> String {
    tui.rows().first().cloned().unwrap_or_default()
}

#[test]
fn verdicts_tls_and_auth_are_shown_in_their_colours() {
    let cfg = tempfile::tempdir().expect("config dir");
    let mut tui = Tui::spawn(cfg.path(), &[]);
    tui.wait_for("Welcome!");
    let bar = status_bar(&tui);
    assert!(
        bar.contains("not connected │ no TLS │ not authenticated"),
        "{bar}"
    );
    assert_eq!(tui.colours_of("no TLS"), [YELLOW], "{bar}");

    // A on the open relay fails: red.
    tui.press(ENTER);
    tui.wait_for_editor("MAIL FROM:");
    tui.press(CTRL_R);
    tui.wait_for("FAIL:");
    assert!(
        tui.colours_of("FAIL").contains(&RED),
        "a red FAIL: {}",
        tui.screen()
    );

    // B on the secure lab: STARTTLS with a verified certificate, AUTH, and a PASS, all green.
    tui.press("p");
    tui.wait_for("last verdicts");
    tui.press(DOWN);
    tui.press(ENTER);
    tui.wait_until("lab-secure in the status bar", |t| {
        status_bar(t).contains("lab-secure")
    });
    tui.press("j");
    tui.press(ENTER);
    // The run sets up TLS and AUTH, then offers its first step.
    tui.wait_for_editor("MAIL FROM:<bob@");
    let bar = status_bar(&tui);
    assert!(bar.contains("│ ready │ TLS TLSv1.3"), "{bar}");
    assert!(bar.contains("✓cert │ AUTH bob"), "{bar}");
    assert_eq!(tui.colours_of("TLS TLSv1.3"), [GREEN], "{bar}");
    assert_eq!(tui.colours_of("AUTH bob"), [GREEN], "{bar}");
    tui.press(CTRL_R);
    tui.wait_for("PASS:");
    assert!(
        tui.colours_of("PASS").contains(&GREEN),
        "a green PASS: {}",
        tui.screen()
    );
    tui.quit_and_check_restored();
}
