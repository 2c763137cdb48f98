//! A pseudo-terminal harness for end-to-end TUI tests: the real binary in a pty, its output
//! fed to a terminal emulator (vt100), keys written as a terminal would send them. Every wait
//! is bounded; the child is killed when the harness is dropped.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

pub const ROWS: u16 = 35;
pub const COLS: u16 = 120;
pub const WAIT: Duration = Duration::from_secs(10);

pub const ENTER: &str = "\r";
pub const ESC: &str = "\x1b";
pub const F1: &str = "\x1bOP";
pub const CTRL_C: &str = "\x03";
pub const DOWN: &str = "\x1b[B";
pub const PGDN: &str = "\x1b[6~";
pub const LEAVE_ALT_SCREEN: &[u8] = b"\x1b[?1049l";

/// The TUI running in a pty. Dropping it kills the child if it is still running.
pub struct Tui {
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
    pub fn spawn(config_dir: &Path, args: &[&str]) -> Tui {
        Self::spawn_with_env(config_dir, args, &[])
    }

    pub fn spawn_with_env(config_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Tui {
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
        for (k, v) in env {
            cmd.env(k, v);
        }
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

    pub fn press(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).expect("write keys");
        self.writer.flush().expect("flush keys");
    }

    pub fn screen(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    pub fn rows(&self) -> Vec<String> {
        self.parser.lock().unwrap().screen().rows(0, COLS).collect()
    }

    /// The text line inside the command editor (the row under its " Command" title).
    pub fn editor(&self) -> String {
        let rows = self.rows();
        rows.iter()
            .position(|r| r.contains("┌ Command"))
            .and_then(|i| rows.get(i + 1))
            .cloned()
            .unwrap_or_default()
    }

    /// Polls the screen every 50 ms until `pred` holds; panics with the last screen after
    /// [`WAIT`].
    pub fn wait_until(&self, what: &str, pred: impl Fn(&Tui) -> bool) -> String {
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
    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_until(&format!("{needle:?} on the screen"), |t| {
            t.screen().contains(needle)
        })
    }

    pub fn wait_for_editor(&self, needle: &str) -> String {
        self.wait_until(&format!("{needle:?} in the command editor"), |t| {
            t.editor().contains(needle)
        })
    }

    /// Presses Ctrl-C, then asserts the process exits 130 (interrupted, as shells expect of
    /// Ctrl-C) and its last output leaves the alternate screen.
    pub fn quit_and_check_restored(&mut self) {
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
        assert_eq!(
            status.exit_code(),
            130,
            "Ctrl-C exits 130; smtpscope exited with {status:?}; last screen:\n{}",
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

impl Tui {
    /// The foreground colour of the first cell of each occurrence of `needle` on the screen
    /// (columns counted in characters, as the terminal counts cells).
    pub fn colours_of(&self, needle: &str) -> Vec<vt100::Color> {
        let want: Vec<char> = needle.chars().collect();
        let parser = self.parser.lock().unwrap();
        let screen = parser.screen();
        let mut found = Vec::new();
        for (row, text) in screen.rows(0, COLS).enumerate() {
            let chars: Vec<char> = text.chars().collect();
            for (col, w) in chars.windows(want.len()).enumerate() {
                if w == want.as_slice()
                    && let Some(cell) = screen.cell(row as u16, col as u16)
                {
                    found.push(cell.fgcolor());
                }
            }
        }
        found
    }

    /// How many cells on the screen have a foreground or background colour.
    pub fn coloured_cells(&self) -> usize {
        let parser = self.parser.lock().unwrap();
        let screen = parser.screen();
        let mut n = 0;
        for row in 0..ROWS {
            for col in 0..COLS {
                if let Some(cell) = screen.cell(row, col)
                    && (cell.fgcolor() != vt100::Color::Default
                        || cell.bgcolor() != vt100::Color::Default)
                {
                    n += 1;
                }
            }
        }
        n
    }

    /// The child's data directory (SMTPSCOPE_DATA_DIR: the log file lives here).
    pub fn data_dir(&self) -> &Path {
        self._data.path()
    }

    /// The child's working directory (exports land here).
    pub fn cwd(&self) -> &Path {
        self._cwd.path()
    }

    /// The child's process id, for sending it signals.
    pub fn pid(&self) -> Option<u32> {
        self.child.process_id()
    }

    /// Waits (bounded) for the child to exit; returns its exit code.
    pub fn wait_exit(&mut self) -> u32 {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.exit_code();
            }
            if Instant::now() >= deadline {
                panic!(
                    "smtpscope did not exit within {WAIT:?}; last screen:\n{}",
                    self.screen()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Bytes written so far (a mark for [`Tui::left_alternate_screen_since`]).
    pub fn mark(&self) -> usize {
        self.raw.lock().unwrap().len()
    }

    /// Whether the output after `mark` leaves the alternate screen (waits, bounded, for the
    /// reader to catch up).
    pub fn left_alternate_screen_since(&self, mark: usize) -> bool {
        let deadline = Instant::now() + WAIT;
        let restored = |raw: &[u8]| {
            raw[mark.min(raw.len())..]
                .windows(LEAVE_ALT_SCREEN.len())
                .any(|w| w == LEAVE_ALT_SCREEN)
        };
        while !restored(&self.raw.lock().unwrap())
            && !self.eof.load(Ordering::SeqCst)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        restored(&self.raw.lock().unwrap())
    }

    /// Everything the child wrote, lossily decoded.
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.raw.lock().unwrap()).into_owned()
    }
}
