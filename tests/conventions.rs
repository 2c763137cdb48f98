//! The ecosystem's conventions: completion scripts for five shells and a man page, generated
//! from the flag definitions; Ctrl-C exits 130 from the explorer (a real pty), `check` and
//! `session` (a real SIGINT).

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use common::fake_server::{FakeServer, Peer};
use common::pty::{CTRL_C, Tui};

fn smtpscope(args: &[&str]) -> std::process::Output {
    Command::cargo_bin("smtpscope")
        .unwrap()
        .timeout(Duration::from_secs(30))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn completions_for_every_shell_know_the_commands_and_flags() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = smtpscope(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        // fish and elvish name long flags without their dashes.
        for word in ["smtpscope", "check", "session", "baseline", "export-dir"] {
            assert!(script.contains(word), "{shell}: no {word}");
        }
    }
    // The bash script is valid bash (when bash is here to say so).
    if let Ok(status) = std::process::Command::new("bash")
        .args([
            "-n",
            "-c",
            &String::from_utf8(smtpscope(&["completions", "bash"]).stdout).unwrap(),
        ])
        .status()
    {
        assert!(status.success(), "bash -n rejects the completion script");
    }
    // An unknown shell is a usage error naming the choices.
    let out = smtpscope(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("zsh"));
}

#[test]
fn the_man_page_covers_every_subcommand_and_renders() {
    let out = smtpscope(&["man"]);
    assert_eq!(out.status.code(), Some(0));
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.contains(".TH smtpscope 1"), "{page}");
    for section in [
        "SMTPSCOPE SESSION",
        "SMTPSCOPE CHECK",
        "SMTPSCOPE LAB",
        "SMTPSCOPE TUI",
        "SMTPSCOPE COMPLETIONS",
    ] {
        assert!(page.contains(section), "no {section}");
    }
    // Flags are escaped for roff ("\-\-baseline"), and the exit codes are there.
    assert!(page.contains(r"\-\-baseline"), "{page}");
    assert!(
        page.contains("with \\-\\-baseline: a verdict got worse"),
        "{page}"
    );
    // man(1) itself renders it, when installed.
    let man = std::process::Command::new("man")
        .args(["-l", "-"])
        .env("MANWIDTH", "100")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    if let Ok(mut child) = man {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(page.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        if out.status.success() {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("--baseline"), "{text}");
        }
    }
}

#[test]
fn ctrl_c_in_the_explorer_exits_130_and_restores_the_terminal() {
    let cfg = tempfile::tempdir().unwrap();
    let mut tui = Tui::spawn(cfg.path(), &["tui"]);
    tui.wait_for("lab-open");
    tui.quit_and_check_restored();
    // From inside an overlay too (help).
    let mut tui = Tui::spawn(cfg.path(), &["tui"]);
    tui.wait_for("lab-open");
    tui.press(common::pty::F1);
    tui.wait_for("Everywhere:");
    tui.press(CTRL_C);
    assert_eq!(tui.wait_exit(), 130);
}

/// A server that accepts and then says nothing: the command waits on it until interrupted.
/// The receiver hears when the client has connected.
fn silent_server() -> (FakeServer, std::sync::mpsc::Receiver<()>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let server = FakeServer::start(None, false, move |peer: &mut Peer| {
        let _ = tx.send(());
        std::thread::sleep(Duration::from_secs(20));
        peer.close();
    });
    (server, rx)
}

/// Runs smtpscope with `args`, sends SIGINT once it is connected and waiting for the banner
/// (its handler is in place before it connects), returns (code, stderr).
fn interrupted(args: &[String], connected: std::sync::mpsc::Receiver<()>) -> (Option<i32>, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_smtpscope"))
        .args(args)
        .env(
            "SMTPSCOPE_CONFIG_DIR",
            std::env::temp_dir().join("smtpscope-conventions-empty-config"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    connected
        .recv_timeout(Duration::from_secs(20))
        .expect("the command connects");
    let ok = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -INT");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("no exit within 10 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code(), err)
}

#[test]
fn ctrl_c_in_check_and_session_exits_130() {
    let (server, connected) = silent_server();
    let args: Vec<String> = [
        "check",
        "--server",
        &server.addr(),
        "--tls",
        "none",
        "--timeout",
        "30",
        "--scenario",
        "A",
    ]
    .map(String::from)
    .to_vec();
    let (code, err) = interrupted(&args, connected);
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("smtpscope check: interrupted"), "{err}");

    let (server, connected) = silent_server();
    let args: Vec<String> = [
        "session",
        "--server",
        &server.addr(),
        "--tls",
        "none",
        "--timeout",
        "30",
    ]
    .map(String::from)
    .to_vec();
    let (code, err) = interrupted(&args, connected);
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("smtpscope session: interrupted"), "{err}");
}
