//! `--pipe COMMAND`: SMTP over a program's standard input and output instead of a socket, as
//! swaks' `--pipe` does. `exim -bh 192.0.2.9` runs Exim's real ACLs as if the client were
//! 192.0.2.9, and Postfix's `sendmail -bs` speaks SMTP as a local submission: a server's policy
//! tested with no port open.
//!
//! The program is started afresh for every connection (each scenario session), its standard
//! error is collected (bounded) to be shown when it fails, and it is always reaped: waited for
//! briefly once the session is over, killed if it does not exit, and killed on drop as a last
//! resort (tokio reaps what it kills that way).

use std::fmt;
use std::io;
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;

/// How much of the program's standard error is kept: its last bytes, where the reason for a
/// failure usually is.
pub const STDERR_KEEP: usize = 8 * 1024;
/// How long the program's standard error may take to end once it exited (a grandchild may
/// hold it open).
const STDERR_DRAIN: Duration = Duration::from_millis(500);

/// A command line to run, split as a shell would split it (quotes, backslashes), but run
/// without a shell: no globbing, no variables, no redirections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipeCommand {
    line: String,
    argv: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PipeCommandError {
    #[error("the command is empty")]
    Empty,
    #[error(
        "{line:?}: an unclosed quote or a trailing backslash (the command is split as a shell would split it)"
    )]
    Unbalanced { line: String },
    #[error("{line:?}: a control character in the command")]
    Control { line: String },
}

impl PipeCommand {
    pub fn parse(line: &str) -> Result<PipeCommand, PipeCommandError> {
        let line = line.trim();
        if line.chars().any(|c| c.is_control() && c != '\t') {
            return Err(PipeCommandError::Control { line: line.into() });
        }
        let argv =
            shlex::split(line).ok_or_else(|| PipeCommandError::Unbalanced { line: line.into() })?;
        if argv.first().is_none_or(|p| p.is_empty()) {
            return Err(PipeCommandError::Empty);
        }
        Ok(PipeCommand {
            line: line.to_string(),
            argv,
        })
    }

    /// The command as the operator wrote it.
    pub fn line(&self) -> &str {
        &self.line
    }
}

impl fmt::Display for PipeCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line)
    }
}

/// The program's standard output (read) and input (written) as one byte stream. Shutting it
/// down closes the program's standard input, which tells it the session is over.
#[derive(Debug)]
pub struct PipeStdio {
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
}

impl PipeStdio {
    /// Reads what is already there without waiting, as `TcpStream::try_read` does.
    pub fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        let mut rb = ReadBuf::new(buf);
        match Pin::new(&mut self.stdout).poll_read(&mut cx, &mut rb) {
            Poll::Ready(Ok(())) => Ok(rb.filled().len()),
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl AsyncRead for PipeStdio {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stdout).poll_read(cx, buf)
    }
}

fn stdin_closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the program's standard input is closed",
    )
}

impl AsyncWrite for PipeStdio {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().stdin {
            Some(s) => Pin::new(s).poll_write(cx, buf),
            None => Poll::Ready(Err(stdin_closed())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stdin {
            Some(s) => Pin::new(s).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Dropping the handle closes the pipe: the program reads end of file.
        self.get_mut().stdin = None;
        Poll::Ready(Ok(()))
    }
}

/// The last [`STDERR_KEEP`] bytes of the program's standard error, and how many there were.
#[derive(Debug, Default)]
struct Tail {
    bytes: Vec<u8>,
    total: u64,
}

impl Tail {
    fn push(&mut self, chunk: &[u8]) {
        self.total += chunk.len() as u64;
        self.bytes.extend_from_slice(chunk);
        if self.bytes.len() > STDERR_KEEP {
            let cut = self.bytes.len() - STDERR_KEEP;
            self.bytes.drain(..cut);
        }
    }
}

/// The running program: reaped by [`PipeChild::finish`], killed on drop otherwise.
#[derive(Debug)]
pub struct PipeChild {
    child: Child,
    pid: Option<u32>,
    stderr: Arc<Mutex<Tail>>,
    stderr_task: Option<JoinHandle<()>>,
}

/// How the program ended.
#[derive(Debug, Clone)]
pub struct Ended {
    pub pid: Option<u32>,
    /// `None` when waiting for it failed (it was killed all the same).
    pub status: Option<ExitStatus>,
    /// It had not exited by the end of the grace period and was killed.
    pub killed: bool,
    /// The last [`STDERR_KEEP`] bytes of its standard error.
    pub stderr: Vec<u8>,
    /// How many bytes it wrote to standard error in all.
    pub stderr_total: u64,
}

impl Ended {
    /// True when it exited by itself with status 0.
    pub fn success(&self) -> bool {
        !self.killed && self.status.is_some_and(|s| s.success())
    }

    /// "exited with status 0", "was killed by signal 9", in words.
    pub fn status_text(&self) -> String {
        use std::os::unix::process::ExitStatusExt;
        let status = match self.status {
            None => "could not be waited for".to_string(),
            Some(s) => match (s.code(), s.signal()) {
                (Some(code), _) => format!("exited with status {code}"),
                (None, Some(sig)) => format!("was ended by signal {sig}"),
                (None, None) => format!("ended: {s}"),
            },
        };
        if self.killed {
            format!("had not exited when the session ended: killed by smtpscope ({status})")
        } else {
            status
        }
    }
}

/// Starts `cmd` with its standard input, output and error connected to this process.
pub fn spawn(cmd: &PipeCommand) -> io::Result<(PipeStdio, PipeChild)> {
    let (program, args) = match cmd.argv.split_first() {
        Some(split) => split,
        None => return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command")),
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id();
    let missing = || io::Error::other("the program's standard streams were not connected");
    let stdin = child.stdin.take().ok_or_else(missing)?;
    let stdout = child.stdout.take().ok_or_else(missing)?;
    let stderr = Arc::new(Mutex::new(Tail::default()));
    // Read as it comes, so a chatty program (exim -bh writes its ACL trace there) never
    // blocks on a full pipe; only the tail is kept.
    let stderr_task = child.stderr.take().map(|mut err| {
        let tail = Arc::clone(&stderr);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                match err.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => match tail.lock() {
                        Ok(mut t) => t.push(&buf[..n]),
                        Err(p) => p.into_inner().push(&buf[..n]),
                    },
                }
            }
        })
    });
    Ok((
        PipeStdio {
            stdin: Some(stdin),
            stdout,
        },
        PipeChild {
            child,
            pid,
            stderr,
            stderr_task,
        },
    ))
}

impl PipeChild {
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Waits up to `grace` for the program to exit by itself, kills it if it has not, and
    /// reaps it: it never outlives the session as a process or a zombie.
    pub async fn finish(mut self, grace: Duration) -> Ended {
        let mut killed = false;
        let status = match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(Ok(status)) => Some(status),
            Ok(Err(_)) | Err(_) => {
                killed = true;
                // kill() sends SIGKILL and waits: the zombie is reaped here.
                let _ = self.child.kill().await;
                self.child.try_wait().ok().flatten()
            }
        };
        if let Some(task) = self.stderr_task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(STDERR_DRAIN, task).await.is_err() {
                abort.abort();
            }
        }
        let (stderr, stderr_total) = match self.stderr.lock() {
            Ok(mut t) => (std::mem::take(&mut t.bytes), t.total),
            Err(p) => {
                let mut t = p.into_inner();
                (std::mem::take(&mut t.bytes), t.total)
            }
        };
        Ended {
            pid: self.pid,
            status,
            killed,
            stderr,
            stderr_total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_as_a_shell_would() {
        let c = PipeCommand::parse("  exim -C '/tmp/my conf' -bh 192.0.2.9 ").expect("parses");
        assert_eq!(c.argv, ["exim", "-C", "/tmp/my conf", "-bh", "192.0.2.9"]);
        assert_eq!(c.line(), "exim -C '/tmp/my conf' -bh 192.0.2.9");
        assert_eq!(PipeCommand::parse("  "), Err(PipeCommandError::Empty));
        assert_eq!(PipeCommand::parse("''"), Err(PipeCommandError::Empty));
        assert!(matches!(
            PipeCommand::parse("exim 'open"),
            Err(PipeCommandError::Unbalanced { .. })
        ));
        assert!(matches!(
            PipeCommand::parse("exim\n-bh"),
            Err(PipeCommandError::Control { .. })
        ));
    }

    #[test]
    fn stderr_keeps_the_tail() {
        let mut t = Tail::default();
        t.push(&vec![b'a'; STDERR_KEEP]);
        t.push(b"last");
        assert_eq!(t.total, STDERR_KEEP as u64 + 4);
        assert_eq!(t.bytes.len(), STDERR_KEEP);
        assert!(t.bytes.ends_with(b"last"));
    }

    #[tokio::test]
    async fn a_program_that_never_exits_is_killed_and_reaped() {
        let cmd = PipeCommand::parse("sleep 1000").expect("parses");
        let (_io, child) = spawn(&cmd).expect("spawns");
        let ended = child.finish(Duration::ZERO).await;
        assert!(ended.killed);
        assert!(!ended.success());
        assert!(ended.status.is_some(), "reaped: {ended:?}");
        assert!(ended.status_text().contains("killed by smtpscope"));
    }
}
