//! End-to-end tests of the TUI: the real binary in a pseudo-terminal, its output fed to a
//! terminal emulator (vt100), keys written to the pty as a terminal would send them.
//! Every wait is bounded; the child is killed when a test ends or fails.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::postfix::Postfix;
use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

const ROWS: u16 = 35;
const COLS: u16 = 120;
const WAIT: Duration = Duration::from_secs(10);

const ENTER: &str = "\r";
const ESC: &str = "\x1b";
const F1: &str = "\x1bOP";
const CTRL_C: &str = "\x03";
const LEAVE_ALT_SCREEN: &[u8] = b"\x1b[?1049l";

/// The TUI running in a pty. Dropping it kills the child if it is still running.
struct Tui {
    child: Box<dyn Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    parser: Arc<Mutex<vt100::Parser>>,
    /// Every byte the child wrote, as written.
    raw: Arc<Mutex<Vec<u8>>>,
    /// Set by the reader thread at EOF (the child and every holder of the pty slave are gone).
    eof: Arc<AtomicBool>,
    // Kept open for the life of the session: closing the master hangs the child up.
    _master: Box<dyn MasterPty + Send>,
    _cwd: tempfile::TempDir,
    _data: tempfile::TempDir,
}

impl Drop for Tui {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Tui {
    fn spawn(config_dir: &Path, args: &[&str]) -> Tui {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: ROWS,
                cols: COLS,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("openpty");
        let cwd = tempfile::tempdir().expect("cwd");
        let data = tempfile::tempdir().expect("data dir");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_smtpscope"));
        cmd.args(args);
        cmd.env("SMTPSCOPE_CONFIG_DIR", config_dir);
        cmd.env("SMTPSCOPE_DATA_DIR", data.path());
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("NO_COLOR");
        cmd.cwd(cwd.path());
        let child = pair.slave.spawn_command(cmd).expect("spawn smtpscope");
        // Only the child may hold the slave, so the reader sees EOF when the child is gone.
        drop(pair.slave);

        let size = |n| std::num::NonZeroU16::new(n).expect("non-zero size");
        let parser = Arc::new(Mutex::new(vt100::Parser::new(size(ROWS), size(COLS), 0)));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let eof = Arc::new(AtomicBool::new(false));
        let mut reader = pair.master.try_clone_reader().expect("pty reader");
        {
            let (parser, raw, eof) = (Arc::clone(&parser), Arc::clone(&raw), Arc::clone(&eof));
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                loop {
                    match reader.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            raw.lock().unwrap().extend_from_slice(&buf[..n]);
                            parser.lock().unwrap().process(&buf[..n]);
                        }
                    }
                }
                eof.store(true, Ordering::SeqCst);
            });
        }
        let writer = pair.master.take_writer().expect("pty writer");
        Tui {
            child,
            writer,
            parser,
            raw,
            eof,
            _master: pair.master,
            _cwd: cwd,
            _data: data,
        }
    }

    fn press(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).expect("write keys");
        self.writer.flush().expect("flush keys");
    }

    fn screen(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    fn rows(&self) -> Vec<String> {
        self.parser.lock().unwrap().screen().rows(0, COLS).collect()
    }

    /// The text line inside the command editor (the row under its " Command" title).
    fn editor(&self) -> String {
        let rows = self.rows();
        rows.iter()
            .position(|r| r.contains("┌ Command"))
            .and_then(|i| rows.get(i + 1))
            .cloned()
            .unwrap_or_default()
    }

    /// Polls the screen every 50 ms until `pred` holds; panics with the last screen after
    /// [`WAIT`].
    fn wait_until(&self, what: &str, pred: impl Fn(&Tui) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if pred(self) {
                return self.screen();
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {WAIT:?} waiting for {what}; last screen:\n{}",
                    self.screen()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the screen contains `needle`; returns the screen.
    fn wait_for(&self, needle: &str) -> String {
        self.wait_until(&format!("{needle:?} on the screen"), |t| {
            t.screen().contains(needle)
        })
    }

    fn wait_for_editor(&self, needle: &str) -> String {
        self.wait_until(&format!("{needle:?} in the command editor"), |t| {
            t.editor().contains(needle)
        })
    }

    /// Presses Ctrl-C, then asserts the process exits successfully and its last output
    /// leaves the alternate screen.
    fn quit_and_check_restored(&mut self) {
        let mark = self.raw.lock().unwrap().len();
        self.press(CTRL_C);
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() >= deadline {
                panic!(
                    "smtpscope did not exit within {WAIT:?} after Ctrl-C; last screen:\n{}",
                    self.screen()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(
            status.success(),
            "smtpscope exited with {status:?}; last screen:\n{}",
            self.screen()
        );
        // The bytes are written before the exit; give the reader a bounded moment for them.
        let deadline = Instant::now() + WAIT;
        let restored = |raw: &[u8]| {
            raw[mark..]
                .windows(LEAVE_ALT_SCREEN.len())
                .any(|w| w == LEAVE_ALT_SCREEN)
        };
        while !restored(&self.raw.lock().unwrap()) && !self.eof.load(Ordering::SeqCst) {
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let raw = self.raw.lock().unwrap();
        assert!(
            restored(&raw),
            "no \\e[?1049l (leave the alternate screen) after Ctrl-C; output after Ctrl-C: {:?}",
            String::from_utf8_lossy(&raw[mark..])
        );
        assert!(
            !self.parser.lock().unwrap().screen().alternate_screen(),
            "the terminal is still on the alternate screen"
        );
    }
}

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

    // p: the secure lab, where the same probe is refused.
    tui.press("p");
    tui.wait_until("lab-secure in the status bar", |t| {
        t.rows().first().is_some_and(|r| r.contains("lab-secure"))
    });
    tui.press(ENTER);
    tui.wait_for_editor("MAIL FROM:<relay-test@outside.example.net>");
    tui.press(ENTER);
    tui.wait_for_editor("RCPT TO:<relay-test@elsewhere.example.org>");
    tui.press(ENTER);
    tui.wait_for("PASS");

    tui.quit_and_check_restored();
}
