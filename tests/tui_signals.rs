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

/// Runs `cmd` in a fresh pty, waits (bounded) for the whole first frame, then closes the pty's
/// master side, as a terminal emulator or tmux does when its window is killed; returns the
/// child so the caller can wait for it.
fn hang_up_after_first_frame(
    cmd: portable_pty::CommandBuilder,
) -> Box<dyn portable_pty::Child + Send + Sync> {
    use std::io::Read;
    let pair = portable_pty::native_pty_system()
        .openpty(portable_pty::PtySize {
            rows: 35,
            cols: 120,
            pixel_width: 0,
            pixel_height: 0,
        })
        .expect("openpty");
    let child = pair.slave.spawn_command(cmd).expect("spawn");
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().expect("reader");
    let (tx, rx) = std::sync::mpsc::channel();
    // The reader owns its copy of the master; it ends (closing it) once the frame is seen.
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 8192];
        while let Ok(n @ 1..) = reader.read(&mut buf) {
            seen.extend_from_slice(&buf[..n]);
            // A frame ends by hiding the cursor (no pane holds it yet), in the frame's last
            // write: once it is here the first draw is over and the app waits, idle.
            if seen.windows(6).any(|w| w == b"\x1b[?25l") {
                let _ = tx.send(());
                return;
            }
        }
    });
    rx.recv_timeout(common::pty::WAIT)
        .expect("the first frame within the wait");
    drop(pair.master);
    child
}

fn wait_exit(child: &mut Box<dyn portable_pty::Child + Send + Sync>) -> u32 {
    let deadline = std::time::Instant::now() + common::pty::WAIT;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status.exit_code();
        }
        if std::time::Instant::now() >= deadline {
            if let Some(pid) = child.process_id() {
                kill_children(pid);
            }
            let _ = child.kill();
            panic!("no exit within {:?} of the hang-up", common::pty::WAIT);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Kills the direct children of `parent` (the app under the shell), so a failed test leaves
/// no process behind.
fn kill_children(parent: u32) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for e in entries.flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split after its ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &e.file_name().to_string_lossy()])
                .status();
        }
    }
}

struct Dirs {
    config: tempfile::TempDir,
    data: tempfile::TempDir,
    tmp: tempfile::TempDir,
}

impl Dirs {
    fn new() -> Dirs {
        let d = || tempfile::tempdir().expect("temp dir");
        Dirs {
            config: d(),
            data: d(),
            tmp: d(),
        }
    }

    fn env(&self, cmd: &mut portable_pty::CommandBuilder) {
        cmd.env("SMTPSCOPE_CONFIG_DIR", self.config.path());
        cmd.env("SMTPSCOPE_DATA_DIR", self.data.path());
        // The lab writes its CA under TMPDIR; an empty TMPDIR afterwards proves it cleaned up.
        cmd.env("TMPDIR", self.tmp.path());
        cmd.env("TERM", "xterm-256color");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.data.path().join("smtpscope.log")).unwrap_or_default()
    }

    /// The app went through its normal exit: it logged the stop and removed the lab's files.
    fn assert_clean_exit(&self) {
        let log = self.log();
        assert!(log.contains("smtpscope tui stopped"), "log: {log}");
        let left: Vec<_> = std::fs::read_dir(self.tmp.path())
            .expect("tmp")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert!(left.is_empty(), "the lab left files behind: {left:?}");
    }
}

#[test]
fn a_hang_up_quits_through_the_normal_path() {
    // The app is the session leader here, so the kernel sends it SIGHUP; restoring the dead
    // terminal then fails, and that failure must not panic (ratatui's restore() would).
    let dirs = Dirs::new();
    let mut cmd = portable_pty::CommandBuilder::new(env!("CARGO_BIN_EXE_smtpscope"));
    cmd.arg("tui");
    dirs.env(&mut cmd);
    let mut child = hang_up_after_first_frame(cmd);
    let code = wait_exit(&mut child);
    assert_eq!(code, 0, "a clean quit; log: {}", dirs.log());
    dirs.assert_clean_exit();
}

#[test]
fn a_hang_up_without_sighup_still_quits() {
    // A shell that ignores SIGHUP is the session leader: the kernel signals only it, and the
    // app sees just a terminal that hung up (crossterm's reader would spin on end-of-file).
    let dirs = Dirs::new();
    let status_file = dirs.tmp.path().join("..").join(format!(
        "smtpscope-exit-{}",
        dirs.tmp
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("x")
    ));
    let mut cmd = portable_pty::CommandBuilder::new("sh");
    cmd.args([
        "-c",
        "trap '' HUP; \"$0\" tui; echo $? > \"$1\"",
        env!("CARGO_BIN_EXE_smtpscope"),
    ]);
    cmd.arg(&status_file);
    dirs.env(&mut cmd);
    let mut shell = hang_up_after_first_frame(cmd);
    wait_exit(&mut shell);
    let code = std::fs::read_to_string(&status_file).expect("the shell wrote the app's exit code");
    let _ = std::fs::remove_file(&status_file);
    assert_eq!(code.trim(), "0", "a clean quit; log: {}", dirs.log());
    dirs.assert_clean_exit();
    assert!(
        dirs.log().contains("quitting: terminal hang-up"),
        "the hang-up watcher, not a failed draw, ended the app: {}",
        dirs.log()
    );
}
