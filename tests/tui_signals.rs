//! The terminal is restored however the TUI ends: a panic (forced with SMTPSCOPE_TEST_PANIC),
//! SIGTERM and SIGHUP. The real binary runs in a pseudo-terminal.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use common::pty::Tui;

fn empty_config() -> tempfile::TempDir {
    tempfile::tempdir().expect("config dir")
}

#[test]
fn a_panic_restores_the_terminal() {
    let cfg = empty_config();
    let mut tui = Tui::spawn_with_env(cfg.path(), &["tui"], &[("SMTPSCOPE_TEST_PANIC", "1")]);
    let code = tui.wait_exit();
    assert_ne!(code, 0, "a panic is a failure exit");
    assert!(
        tui.left_alternate_screen_since(0),
        "output: {:?}",
        tui.output()
    );
    assert!(
        tui.output().contains("panicking on purpose"),
        "the panic message is shown after restoring: {:?}",
        tui.output()
    );
}

fn signal(tui: &Tui, sig: &str) {
    let pid = tui.pid().expect("pid");
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill {sig} {pid}");
}

#[test]
fn sigterm_and_sighup_restore_the_terminal() {
    for sig in ["-TERM", "-HUP"] {
        let cfg = empty_config();
        let mut tui = Tui::spawn(cfg.path(), &["tui"]);
        tui.wait_for("lab-open");
        let mark = tui.mark();
        signal(&tui, sig);
        let code = tui.wait_exit();
        assert_eq!(code, 0, "{sig}: a clean quit");
        assert!(
            tui.left_alternate_screen_since(mark),
            "{sig}: output: {:?}",
            tui.output()
        );
    }
}
