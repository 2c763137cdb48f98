//! End-to-end tests of the TUI: the real binary in a pseudo-terminal, its output fed to a
//! terminal emulator (vt100), keys written to the pty as a terminal would send them.
//! Every wait is bounded; the child is killed when a test ends or fails.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use common::postfix::Postfix;
use common::pty::{DOWN, ENTER, ESC, F1, PGDN, Tui};

/// A config dir with `profiles/pf.toml` for the relaxed (no tarpit) Postfix listener.
fn config_dir(pf: &Postfix) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("config dir");
    let profile = format!(
        r#"server = "127.0.0.1:{port}"
tls = "starttls"
verify = "platform"
ca_file = "{ca}"
tls_name = "localhost"
helo = "probe.test"
timeout_secs = 20

[relay]
local_recipient = "postmaster@{domain}"
external_sender = "relay-test@outside.example.net"
external_recipient = "relay-test@elsewhere.example.org"
approved_recipient = "someone@{partner}"
disallowed_recipient = "someone@not-approved.example"
other_local_sender = "{user}@{domain}"
"#,
        port = pf.relaxed_port,
        ca = pf.ca_pem_path.display(),
        domain = pf.domain,
        partner = pf.partner_domain,
        user = pf.user,
    );
    std::fs::create_dir_all(dir.path().join("profiles")).expect("mkdir");
    std::fs::write(dir.path().join("profiles/pf.toml"), profile).expect("write profile");
    dir
}

#[test]
fn tui_steps_scenario_a_against_postfix() {
    let Some(pf) = common::postfix::shared("tui_steps_scenario_a_against_postfix") else {
        return;
    };
    let cfg = config_dir(pf);
    let mut tui = Tui::spawn(cfg.path(), &["tui", "--profile", "pf", "--scenario", "A"]);

    // --scenario connects on its own and stops at the first step, pre-filled in the editor.
    tui.wait_for_editor("MAIL FROM:<relay-test@outside.example.net>");
    tui.press(ENTER);
    tui.wait_for_editor("RCPT TO:<relay-test@elsewhere.example.org>");
    tui.press(ENTER);
    tui.wait_for("554 5.7.1");
    let screen = tui.wait_for("PASS");
    assert!(
        screen.contains(" pf "),
        "the status bar names the profile:\n{screen}"
    );

    tui.press(F1);
    tui.wait_for("Keys");
    tui.press(ESC);
    tui.wait_until("the help overlay to close", |t| {
        !t.screen().contains("Keys (")
    });

    tui.quit_and_check_restored();
}

#[test]
fn tui_first_run_compares_the_practice_labs() {
    // No profiles: `smtpscope` with no arguments on a terminal opens the TUI on the labs.
    let cfg = tempfile::tempdir().expect("config dir");
    let mut tui = Tui::spawn(cfg.path(), &[]);
    tui.wait_until("lab-open in the status bar", |t| {
        t.rows().first().is_some_and(|r| r.contains("lab-open"))
    });
    tui.wait_for("Welcome!");

    // A on the open relay: RCPT to an outside domain is accepted, so A fails.
    tui.press(ENTER);
    tui.wait_for_editor("MAIL FROM:<relay-test@outside.example.net>");
    tui.press(ENTER);
    tui.wait_for_editor("RCPT TO:<relay-test@elsewhere.example.org>");
    tui.press(ENTER);
    tui.wait_for("FAIL");

    // p lists the profiles; the secure lab, where the same probe is refused, is next.
    tui.press("p");
    tui.wait_for("last verdicts");
    tui.press(DOWN);
    tui.press(ENTER);
    tui.wait_until("lab-secure in the status bar", |t| {
        t.rows().first().is_some_and(|r| r.contains("lab-secure"))
    });
    tui.press(ENTER);
    tui.wait_for_editor("MAIL FROM:<relay-test@outside.example.net>");
    tui.press(ENTER);
    tui.wait_for_editor("RCPT TO:<relay-test@elsewhere.example.org>");
    tui.press(ENTER);
    tui.wait_for("PASS");

    // The scenario list puts the two labs' verdicts side by side, as the welcome line asks.
    tui.wait_until("both labs' verdicts on A's row", |t| {
        t.rows().iter().any(|r| {
            r.contains("unauth-relay") && r.contains("open:FAIL") && r.contains("secure:PASS")
        })
    });

    tui.quit_and_check_restored();
}

#[test]
fn tui_esc_aborts_a_scenario() {
    let cfg = tempfile::tempdir().expect("config dir");
    let mut tui = Tui::spawn(cfg.path(), &[]);
    tui.wait_for("Welcome!");
    tui.press(ENTER);
    tui.wait_for_editor("MAIL FROM:<relay-test@outside.example.net>");
    tui.press(ESC);
    tui.wait_for("aborted");
    tui.wait_until("the step to leave the editor", |t| {
        t.editor().contains("type an SMTP command")
    });
    // What is typed next is a command of its own, not an edit of the aborted step.
    tui.press("NOOP");
    tui.wait_for_editor("NOOP");
    tui.press(ENTER);
    let screen = tui.wait_for("C: NOOP");
    assert!(
        !screen.contains("relay-test@outside.example.net>NOOP"),
        "{screen}"
    );
    tui.wait_for("S: 250");
    tui.quit_and_check_restored();
}

#[test]
fn tui_profile_list_sees_files_written_by_hand_and_panes_scroll() {
    let cfg = tempfile::tempdir().expect("config dir");
    let mut tui = Tui::spawn(cfg.path(), &[]);
    tui.wait_for("Welcome!");
    // Written by hand while the program runs: the list reads the directory when it opens.
    std::fs::create_dir_all(cfg.path().join("profiles")).expect("mkdir");
    std::fs::write(
        cfg.path().join("profiles/by-hand.toml"),
        "server = \"127.0.0.1:9\"\nhelo = \"probe.test\"\n",
    )
    .expect("write profile");
    tui.press("p");
    tui.wait_for("by-hand");
    tui.press(DOWN);
    tui.press(DOWN);
    tui.press(ENTER);
    tui.wait_until("by-hand in the status bar", |t| {
        t.rows()
            .first()
            .is_some_and(|r| r.contains("by-hand │ 127.0.0.1:9"))
    });
    // A pane over the screen scrolls with the transcript's keys and closes only on Esc.
    tui.press("c");
    tui.wait_for("Before TLS");
    tui.press(PGDN);
    tui.press(DOWN);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        tui.screen().contains("Capabilities"),
        "PgDn and Down scroll, they do not close:\n{}",
        tui.screen()
    );
    tui.press(ESC);
    tui.wait_until("the capabilities pane to close", |t| {
        !t.screen().contains("Before TLS")
    });
    tui.quit_and_check_restored();
}
