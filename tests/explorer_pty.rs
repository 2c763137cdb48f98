//! The explorer as people reach for it (issue 27), end to end: the real binary in a pty, and
//! what the terminal received. A copy reaches the terminal as `ESC ] 52 ; c ;` and the base64
//! of the copied text, never as the server's own bytes; the whole run goes to a file as well.
//! `tui --server` explores a server with no profile and offers to save it.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;
#[allow(dead_code)]
#[path = "common/hostile_server.rs"]
mod hostile_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::pty::{ENTER, Tui};
use hostile_server::{Flow, HostileServer, Stage, Tls};

const TAB: &str = "\t";
const CTRL_Y: &str = "\x19";
const CTRL_O: &str = "\x0f";

/// A server whose NOOP answer tries to set the terminal's title and clipboard itself.
fn hostile_noop() -> HostileServer {
    HostileServer::start(
        Tls::None,
        Arc::new(|peer: &mut hostile_server::Peer, stage, line: &[u8]| {
            if stage == Stage::Other && line.to_ascii_uppercase().starts_with(b"NOOP") {
                peer.send(b"250 2.0.0 Ok \x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07\r\n");
                return Flow::Handled;
            }
            Flow::Normal
        }),
    )
}

fn config_for(addr: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("config dir");
    std::fs::create_dir_all(dir.path().join("profiles")).expect("mkdir");
    std::fs::write(
        dir.path().join("profiles/h.toml"),
        format!("server = \"{addr}\"\ntls = \"none\"\nhelo = \"probe.test\"\n"),
    )
    .expect("write profile");
    dir
}

/// Every OSC 52 payload the terminal received, decoded.
fn clipboard_writes(raw: &str) -> Vec<String> {
    raw.split("\x1b]52;c;")
        .skip(1)
        .filter_map(|rest| rest.split('\x07').next())
        .map(|b64| {
            let bytes = STANDARD
                .decode(b64)
                .unwrap_or_else(|e| panic!("{e}: not base64: {b64:?}"));
            String::from_utf8(bytes).expect("UTF-8")
        })
        .collect()
}

fn wait_for_output(tui: &Tui, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = tui.output();
        if pred(&out) {
            return out;
        }
        assert!(Instant::now() < deadline, "never {what}:\n{}", tui.screen());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn y_copies_the_line_with_osc_52_as_base64_and_ctrl_o_writes_the_run_to_a_file() {
    let server = hostile_noop();
    let cfg = config_for(&server.addr());
    let mut tui = Tui::spawn(cfg.path(), &[]);
    tui.wait_for(" h │");
    // Typing in the scenario list starts a command of one's own.
    tui.press("NOOP");
    tui.press(ENTER);
    tui.wait_for("pwned");
    // Editor → scenario list → transcript; y copies the last line (none is selected).
    tui.press(TAB);
    tui.press(TAB);
    tui.press("y");
    tui.wait_for("copied the selected line to the clipboard");
    // The line as the transcript shows it: the server's escapes written out, not obeyed.
    let expected = "250 2.0.0 Ok \\x1b]0;pwned\\x07\\x1b]52;c;ZXZpbA==\\x07";
    let sequence = format!("\x1b]52;c;{}\x07", STANDARD.encode(expected));
    let out = wait_for_output(&tui, "the OSC 52 sequence", |o| o.contains(&sequence));
    assert_eq!(
        clipboard_writes(&out),
        vec![expected.to_string()],
        "one clipboard write, smtpscope's own"
    );
    assert!(
        !out.contains("\x1b]0;pwned"),
        "the server's title never raw"
    );

    // Ctrl-Y copies the whole run: every line, the server's text escaped.
    tui.press(CTRL_Y);
    let out = wait_for_output(&tui, "a second clipboard write", |o| {
        clipboard_writes(o).len() == 2
    });
    let run = &clipboard_writes(&out)[1];
    assert!(run.contains("C: NOOP"), "{run}");
    assert!(run.contains(expected), "{run}");
    assert!(!run.contains('\x1b'), "{run:?}");

    // Ctrl-O writes the same to a file and names it in full.
    tui.press(CTRL_O);
    let screen = tui.wait_for("the whole run written to");
    let exports = tui.data_dir().join("exports");
    let file = std::fs::read_dir(&exports)
        .expect("exports dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-h-run.txt"))
        .unwrap_or_else(|| panic!("no run file in {}:\n{screen}", exports.display()));
    let text = std::fs::read_to_string(&file).expect("run file");
    assert!(
        text.contains("C: NOOP") && text.contains(expected),
        "{text}"
    );
    tui.quit_and_check_restored();
}

/// `tui --server` with `check`'s TLS flags explores the practice lab with no profile: scenario
/// A runs to its verdict, the welcome line offers to save the target, and `e`, Ctrl-S saves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tui_server_explores_a_lab_without_a_profile_and_offers_to_save_it() {
    use smtpscope::lab::{Lab, LabConfig, Policy};
    let lab = Lab::start(
        LabConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            policy: Policy::Secure,
            misbehave: vec![],
            store_dir: None,
        },
        None,
    )
    .await
    .expect("lab");
    let cfg = tempfile::tempdir().expect("config dir");
    let server = lab.addr.to_string();
    let ca = lab.ca_path.to_string_lossy().into_owned();
    let name = server.replace(':', "-");
    let mut tui = tokio::task::spawn_blocking({
        let cfg = cfg.path().to_path_buf();
        move || {
            let tui = Tui::spawn(
                &cfg,
                &[
                    "tui",
                    "--server",
                    &server,
                    "--ca-file",
                    &ca,
                    "--tls-name",
                    "localhost",
                    "--helo",
                    "probe.test",
                    "--local-recipient",
                    "postmaster@lab.example",
                    "--external-recipient",
                    "relay-test@elsewhere.example.org",
                ],
            );
            tui.wait_for("is a quick target, not saved: e then Ctrl-S saves it");
            tui
        }
    })
    .await
    .unwrap();
    let saved = cfg.path().join(format!("profiles/{name}.toml"));
    tui = tokio::task::spawn_blocking(move || {
        let screen = tui.screen();
        assert!(!screen.contains("lab-open"), "no practice labs: {screen}");
        // A, run through (Enter starts it, Ctrl-R runs the rest).
        tui.press(ENTER);
        tui.wait_for_editor("MAIL FROM");
        tui.press("\x12");
        tui.wait_for("PASS: ");
        tui.press("\x1b");
        // Apart from the Esc, or the terminal reads the two as Alt-e.
        std::thread::sleep(Duration::from_millis(300));
        tui.press("e");
        tui.wait_for("Ctrl-S saves");
        tui.press("\x13");
        tui
    })
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !saved.exists() {
        assert!(Instant::now() < deadline, "never saved: {}", tui.screen());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = std::fs::read_to_string(&saved).unwrap();
    assert!(
        text.contains(&format!("server = \"{}\"", lab.addr)),
        "{text}"
    );
    assert!(text.contains("postmaster@lab.example"), "{text}");
    tokio::task::spawn_blocking(move || tui.quit_and_check_restored())
        .await
        .unwrap();
}

#[test]
fn tui_server_refuses_an_injected_value_before_starting() {
    let cfg = tempfile::tempdir().expect("config dir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_smtpscope"))
        .env("SMTPSCOPE_CONFIG_DIR", cfg.path())
        .args(["tui", "--server", "127.0.0.1:25", "--helo", "a\rb"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("helo") || err.contains("HELO"), "{err}");
}

/// D moves a profile to the trash folder of the data directory, and u in the profile list
/// brings it back, as it was.
#[test]
fn a_deleted_profile_goes_to_the_trash_and_u_restores_it() {
    let cfg = tempfile::tempdir().expect("config dir");
    std::fs::create_dir_all(cfg.path().join("profiles")).expect("mkdir");
    let file = cfg.path().join("profiles/alpha.toml");
    let text = "server = \"127.0.0.1:9\"\ntls = \"none\"\n";
    std::fs::write(&file, text).expect("write alpha");
    std::fs::write(cfg.path().join("profiles/beta.toml"), text).expect("write beta");
    let mut tui = Tui::spawn(cfg.path(), &["tui", "--profile", "alpha"]);
    tui.wait_for(" alpha │ 127.0.0.1:9 │");
    tui.press("p");
    tui.wait_for("last verdicts");
    tui.press("D");
    tui.wait_for("Delete profile alpha?");
    tui.press("y");
    tui.wait_for("profile alpha deleted (moved to");
    assert!(!file.exists(), "alpha left the config directory");
    let trash = tui.data_dir().join("trash");
    let trashed: Vec<_> = std::fs::read_dir(&trash)
        .expect("trash folder")
        .filter_map(Result::ok)
        .collect();
    assert_eq!(trashed.len(), 1, "{trashed:?}");
    tui.press("p");
    tui.wait_for("last verdicts");
    tui.press("u");
    tui.wait_for("profile alpha restored");
    assert_eq!(std::fs::read_to_string(&file).expect("alpha back"), text);
    tui.wait_for(" alpha ");
    tui.quit_and_check_restored();
}
