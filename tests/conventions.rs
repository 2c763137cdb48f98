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
    // The bash script is valid bash.
    if let Some(status) = tool(
        "completions_for_every_shell_know_the_commands_and_flags",
        "bash",
        std::process::Command::new("bash").args([
            "-n",
            "-c",
            &String::from_utf8(smtpscope(&["completions", "bash"]).stdout).unwrap(),
        ]),
    ) {
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
    // Every subcommand `--help` lists has its section, with every long flag its own `--help`
    // lists (roff-escaped), and the exit codes of `session` and `check`, line for line.
    let top = String::from_utf8(smtpscope(&["--help"]).stdout).unwrap();
    let subcommands: Vec<&str> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        // A description wrapped onto the next line is indented further.
        .filter_map(|l| l.strip_prefix("  "))
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .collect();
    assert!(subcommands.len() >= 8, "{top}");
    // roff escapes: "-" as "\-", "'" as "\*(Aq".
    let roff = |text: &str| text.replace('-', "\\-").replace('\'', "\\*(Aq");
    for sub in &subcommands {
        let section = format!("SMTPSCOPE {}", sub.to_uppercase());
        assert!(page.contains(&section), "no {section}");
        let help = String::from_utf8(smtpscope(&[sub, "--help"]).stdout).unwrap();
        let flags: std::collections::BTreeSet<&str> = help
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .filter(|w| w.starts_with("--") && w.len() > 2)
            .collect();
        for flag in flags {
            assert!(
                page.contains(&roff(flag)),
                "{sub}: {flag} is not in the man page"
            );
        }
    }
    for sub in ["session", "check"] {
        let help = String::from_utf8(smtpscope(&[sub, "--help"]).stdout).unwrap();
        let codes: Vec<&str> = help
            .lines()
            .skip_while(|l| !l.starts_with("Exit codes:"))
            .skip(1)
            .take_while(|l| !l.trim().is_empty())
            .collect();
        assert!(codes.len() >= 7, "{sub}: {help}");
        for line in codes {
            assert!(
                page.contains(&roff(line)),
                "{sub}: exit code line {line:?} not in the man page"
            );
        }
    }
    // Flags are escaped for roff ("\-\-baseline").
    assert!(page.contains(r"\-\-baseline"), "{page}");
    // man(1) itself renders it, without a warning.
    let man = std::process::Command::new("man")
        .args(["--warnings", "-l", "-"])
        .env("MANWIDTH", "100")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match man {
        Ok(child) => child,
        Err(e) => {
            missing(
                "the_man_page_covers_every_subcommand_and_renders",
                "man",
                &e,
            );
            return;
        }
    };
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(page.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "man -l failed: {errors}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--baseline"), "{text}");
    assert!(errors.trim().is_empty(), "man warns: {errors}");
}

/// A tool the test needs: its status, or a skip in the ledger when it is not installed (a
/// failure under `CI=true`, where `.ci/run` installs it).
fn tool(
    test: &str,
    name: &str,
    command: &mut std::process::Command,
) -> Option<std::process::ExitStatus> {
    match command.status() {
        Ok(status) => Some(status),
        Err(e) => {
            missing(test, name, &e);
            None
        }
    }
}

fn missing(test: &str, name: &str, e: &std::io::Error) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI requires {name}: {e}"
    );
    common::skips::skipped(test, &format!("{name} is not installed ({e})"));
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
