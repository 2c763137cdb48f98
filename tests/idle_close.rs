//! The transcript is live while the operator thinks (issue 32): a server that speaks on its
//! own, here the practice lab closing an idle session after its command timeout with
//! Postfix's `421 4.4.2 … Error: timeout exceeded`, is shown at once, with no key pressed: in
//! a hand-typed session, inside TLS, and while a scenario run waits at a step; and in a real
//! terminal.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::time::Duration;

use common::stepping::Stepping;
use ratatui::crossterm::event::KeyCode;
use smtpscope::lab::{Lab, LabConfig, Limits, Policy};
use smtpscope::tui::lab_profile;
use smtpscope::tui::message::NetEvent;
use smtpscope::tui::state::ConnPhase;

/// A lab that closes a session after `idle` without a command.
async fn impatient_lab(policy: Policy, idle: Duration) -> Lab {
    Lab::start_with_limits(
        LabConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            policy,
            misbehave: Vec::new(),
            store_dir: None,
        },
        Limits {
            command_timeout: idle,
            ..Limits::default()
        },
        None,
    )
    .await
    .expect("lab")
}

fn closed_by_server(ev: &NetEvent) -> bool {
    matches!(ev, NetEvent::ServerClosed { .. })
}

/// Typed commands go out from the editor (Tab twice from the scenario list).
fn type_command(app: &mut Stepping, line: &str) {
    app.type_text(line);
    app.press(KeyCode::Enter);
}

/// What the operator sees once the server gave up: the 421 in the transcript as a reply no
/// command waited for, the close, the connection closed in the status, and a notice that
/// explains it and offers Ctrl-L.
fn assert_shown(app: &Stepping, during_run: bool) {
    let lines: Vec<&String> = app.sessions.iter().flatten().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("421 4.4.2") && l.contains("timeout exceeded"))
        .unwrap_or_else(|| panic!("no 421 in the transcript: {lines:#?}"));
    assert!(
        lines[at..]
            .iter()
            .any(|l| l.contains("!! the server spoke on its own after")
                && l.contains("s idle: no command was waiting for this reply")),
        "the 421 is marked as the idle server's own words: {lines:#?}"
    );
    assert!(
        lines[at..]
            .iter()
            .any(|l| l.contains("-- connection closed by the server after")),
        "the close is in the transcript: {lines:#?}"
    );
    assert!(
        matches!(app.state.conn.phase, ConnPhase::Closed(_)),
        "the status says closed: {:?}",
        app.state.conn.phase
    );
    let (is_error, notice) = app.state.notice.clone().expect("a notice");
    assert!(is_error, "{notice}");
    assert!(
        notice.contains("the server closed the connection after"),
        "{notice}"
    );
    assert!(notice.contains("s idle: 421 4.4.2"), "{notice}");
    assert!(
        notice.contains("its idle timeout, not a policy decision"),
        "{notice}"
    );
    assert!(notice.contains("Ctrl-L reconnects"), "{notice}");
    assert_eq!(
        notice.contains("the step cannot go on"),
        during_run,
        "{notice}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_typed_session_shows_the_idle_421_without_a_key_pressed() {
    let lab = impatient_lab(Policy::NoTls, Duration::from_secs(1)).await;
    let mut app = Stepping::new("impatient", lab_profile(&lab));
    app.press(KeyCode::Tab);
    app.press(KeyCode::Tab);
    type_command(&mut app, "EHLO probe.test");
    // Nothing more is pressed: the worker reads the idle connection by itself.
    assert!(
        app.wait_for(closed_by_server, Duration::from_secs(20))
            .await,
        "the close was never reported; said: {:?}",
        app.said
    );
    app.drain_events().await;
    assert_shown(&app, false);
    // Ctrl-L connects again and the session goes on.
    app.press_with(
        KeyCode::Char('l'),
        ratatui::crossterm::event::KeyModifiers::CONTROL,
    );
    assert!(
        app.wait_for(
            |ev| matches!(ev, NetEvent::Conn(c) if matches!(c.phase, ConnPhase::Open(_))),
            Duration::from_secs(20)
        )
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_tls_the_idle_421_shows_too() {
    let lab = impatient_lab(Policy::Secure, Duration::from_secs(1)).await;
    let mut app = Stepping::new("impatient-tls", lab_profile(&lab));
    app.press(KeyCode::Tab);
    app.press(KeyCode::Tab);
    type_command(&mut app, "EHLO probe.test");
    assert!(
        app.wait_for(|ev| matches!(ev, NetEvent::Idle), Duration::from_secs(20))
            .await
    );
    app.clear_editor();
    type_command(&mut app, "STARTTLS");
    assert!(
        app.wait_for(closed_by_server, Duration::from_secs(20))
            .await,
        "said: {:?}",
        app.said
    );
    app.drain_events().await;
    assert!(
        app.state.conn.tls.is_some(),
        "the session was inside TLS when the server closed it"
    );
    assert_shown(&app, false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_paused_at_a_step_says_it_cannot_go_on() {
    let lab = impatient_lab(Policy::Secure, Duration::from_secs(1)).await;
    let mut app = Stepping::new("impatient-run", lab_profile(&lab));
    // Enter on scenario A in the picker: the run connects and waits at its first step.
    app.press(KeyCode::Enter);
    assert!(
        app.wait_for(
            |ev| matches!(ev, NetEvent::Preview { .. }),
            Duration::from_secs(20)
        )
        .await
    );
    assert!(
        app.wait_for(closed_by_server, Duration::from_secs(20))
            .await,
        "said: {:?}",
        app.said
    );
    app.drain_events().await;
    assert_shown(&app, true);
}

/// CPU time (user + system) the process has used, in clock ticks, from /proc.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name (which may hold spaces), closed by ')'.
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// In a real terminal: the 421 line appears on the screen with no key pressed after the
/// command, and while the connection is open and idle the explorer burns no CPU (a read
/// that polled would).
#[test]
fn in_a_terminal_the_line_appears_and_an_idle_connection_costs_no_cpu() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let patient = rt.block_on(impatient_lab(Policy::NoTls, Duration::from_secs(600)));
    let impatient = rt.block_on(impatient_lab(Policy::NoTls, Duration::from_secs(1)));
    let cfg = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(cfg.path().join("profiles")).unwrap();
    for (name, lab) in [("patient", &patient), ("impatient", &impatient)] {
        std::fs::write(
            cfg.path().join(format!("profiles/{name}.toml")),
            format!(
                "server = \"{}\"\ntls = \"none\"\nhelo = \"probe.test\"\n",
                lab.addr
            ),
        )
        .unwrap();
    }

    // Idle on an open connection: the background read waits on the socket, never spins.
    let mut tui = common::pty::Tui::spawn(cfg.path(), &["tui", "--profile", "patient"]);
    tui.wait_for("patient");
    tui.press("\t\t");
    tui.press("EHLO probe.test");
    tui.press(common::pty::ENTER);
    tui.wait_for("250");
    let pid = tui.pid().expect("pid");
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(3));
    let used = cpu_ticks(pid) - before;
    // A tick is 10 ms; a loop polling the socket would use most of the 300 ticks.
    assert!(used <= 10, "{used} ticks of CPU in 3 s idle");
    tui.quit_and_check_restored();

    let mut tui = common::pty::Tui::spawn(cfg.path(), &["tui", "--profile", "impatient"]);
    tui.wait_for("impatient");
    tui.press("\t\t");
    tui.press("EHLO probe.test");
    tui.press(common::pty::ENTER);
    let screen = tui.wait_for("timeout exceeded");
    assert!(screen.contains("421 4.4.2"), "{screen}");
    tui.wait_for("the server closed the connection after");
    tui.quit_and_check_restored();
}
