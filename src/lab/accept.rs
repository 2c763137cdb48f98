//! Taking connections without falling over: a deep listen queue, a cap on open sessions that
//! stays under the process's open-file limit, and a pause after accept(2) fails for want of
//! resources (EMFILE and friends), which would otherwise be retried in a tight loop at 100% CPU.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};

/// File descriptors kept back from sessions: the listeners, the runtime's own, stdio, and a
/// stored message being written, so that an over-the-cap client can still be answered 421.
const FD_RESERVE: usize = 32;

/// Sessions open in this process, over every server in it: the open-file limit is per process.
static PROCESS_SESSIONS: AtomicUsize = AtomicUsize::new(0);

pub(crate) fn bind(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As std's bind does on Unix: a restarted lab may take its port back at once.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// The soft open-file limit less the reserve; `None` where it cannot be read (not Linux).
pub(crate) fn fd_ceiling() -> Option<usize> {
    // A kernel file of about 1.5 KB; read through the same bounded reader as every other.
    let limits = crate::bounded_read::read_regular_to_string(
        std::path::Path::new("/proc/self/limits"),
        crate::bounded_read::Limit {
            bytes: 64 * crate::bounded_read::KIB,
            what: "/proc/self/limits",
        },
    )
    .ok()?;
    soft_open_files(&limits).map(|n| n.saturating_sub(FD_RESERVE).max(1))
}

fn soft_open_files(limits: &str) -> Option<usize> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    match soft {
        "unlimited" => Some(usize::MAX),
        n => n.parse().ok(),
    }
}

/// Why a client was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapKind {
    /// The server's `--max-connections`.
    Connections,
    /// The process's open-file limit (less a reserve), over all its servers.
    OpenFiles,
}

/// Open sessions of one server, against its cap and the process-wide ceiling.
#[derive(Debug)]
pub(crate) struct Slots {
    open: AtomicUsize,
    cap: usize,
    fd_ceiling: usize,
}

/// One open session; gives its place back when dropped, however the session ends.
#[derive(Debug)]
pub(crate) struct Slot {
    slots: Arc<Slots>,
}

impl Slots {
    pub(crate) fn new(cap: usize, fd_ceiling: Option<usize>) -> Arc<Slots> {
        Arc::new(Slots {
            open: AtomicUsize::new(0),
            cap,
            fd_ceiling: fd_ceiling.unwrap_or(usize::MAX),
        })
    }

    pub(crate) fn try_take(self: &Arc<Self>) -> Result<Slot, CapKind> {
        let mine = self.open.fetch_add(1, Ordering::AcqRel) + 1;
        let all = PROCESS_SESSIONS.fetch_add(1, Ordering::AcqRel) + 1;
        let refused = if mine > self.cap {
            Some(CapKind::Connections)
        } else if all > self.fd_ceiling {
            Some(CapKind::OpenFiles)
        } else {
            None
        };
        match refused {
            Some(kind) => {
                self.open.fetch_sub(1, Ordering::AcqRel);
                PROCESS_SESSIONS.fetch_sub(1, Ordering::AcqRel);
                Err(kind)
            }
            None => Ok(Slot {
                slots: Arc::clone(self),
            }),
        }
    }

    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// The cap that applies: the smaller of the configured one and the open-file ceiling.
    pub(crate) fn effective_cap(&self) -> usize {
        self.cap.min(self.fd_ceiling)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.open.fetch_sub(1, Ordering::AcqRel);
        PROCESS_SESSIONS.fetch_sub(1, Ordering::AcqRel);
    }
}

const FIRST_PAUSE: Duration = Duration::from_millis(10);
/// Short enough that a freed descriptor is used within a quarter second.
const LONGEST_PAUSE: Duration = Duration::from_millis(250);

/// What to do about accept(2) failing: how long to pause, and whether to say so.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    failures: u64,
    pause: Duration,
}

/// The verdict on one failed accept.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct OnFailure {
    pub(crate) pause: Duration,
    /// Set on the first failure of a burst only, so the log gets one line, not thousands.
    pub(crate) report: bool,
}

impl Backoff {
    pub(crate) fn failed(&mut self, e: &io::Error) -> OnFailure {
        // These concern the one connection, already gone from the queue: no reason to wait.
        if matches!(
            e.kind(),
            io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::Interrupted
                | io::ErrorKind::WouldBlock
        ) {
            return OnFailure {
                pause: Duration::ZERO,
                report: false,
            };
        }
        self.failures += 1;
        self.pause = if self.failures == 1 {
            FIRST_PAUSE
        } else {
            (self.pause * 2).min(LONGEST_PAUSE)
        };
        OnFailure {
            pause: self.pause,
            report: self.failures == 1,
        }
    }

    /// Failures in the burst going on now; 0 when the last accept succeeded.
    pub(crate) fn failures(&self) -> u64 {
        self.failures
    }

    /// After a success: how many failures the burst that just ended had, if there was one.
    pub(crate) fn accepted(&mut self) -> Option<u64> {
        let failures = std::mem::take(&mut self.failures);
        self.pause = Duration::ZERO;
        (failures > 0).then_some(failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emfile() -> io::Error {
        io::Error::from_raw_os_error(24)
    }

    #[test]
    fn a_burst_of_emfile_is_reported_once_and_always_paused() {
        let mut b = Backoff::default();
        let verdicts: Vec<OnFailure> = (0..1000).map(|_| b.failed(&emfile())).collect();
        assert_eq!(verdicts.iter().filter(|v| v.report).count(), 1);
        assert!(verdicts[0].report);
        assert!(verdicts.iter().all(|v| v.pause >= FIRST_PAUSE));
        assert!(verdicts.iter().all(|v| v.pause <= LONGEST_PAUSE));
        assert_eq!(verdicts[999].pause, LONGEST_PAUSE);
        // At the longest pause, a 1,000-failure burst takes minutes, not a spin of microseconds.
        let paused: Duration = verdicts.iter().map(|v| v.pause).sum();
        assert!(paused > Duration::from_secs(200), "{paused:?}");

        assert_eq!(b.accepted(), Some(1000));
        assert_eq!(b.accepted(), None);
        let again = b.failed(&emfile());
        assert!(again.report, "a new burst is reported again");
        assert_eq!(again.pause, FIRST_PAUSE);
    }

    #[test]
    fn a_connection_that_went_away_is_neither_paused_for_nor_reported() {
        let mut b = Backoff::default();
        let v = b.failed(&io::Error::from(io::ErrorKind::ConnectionAborted));
        assert_eq!(
            v,
            OnFailure {
                pause: Duration::ZERO,
                report: false
            }
        );
        assert_eq!(b.accepted(), None);
    }

    #[test]
    fn the_soft_open_file_limit_is_read() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             95000                95000                processes \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(soft_open_files(limits), Some(1024));
        assert_eq!(
            soft_open_files(
                "Max open files            unlimited            unlimited            files"
            ),
            Some(usize::MAX)
        );
        assert_eq!(soft_open_files("nothing here"), None);
    }

    #[test]
    fn slots_refuse_over_the_cap_and_come_back_when_dropped() {
        let slots = Slots::new(2, None);
        let a = slots.try_take().expect("first");
        let _b = slots.try_take().expect("second");
        assert_eq!(slots.try_take().err(), Some(CapKind::Connections));
        assert_eq!(slots.open(), 2);
        drop(a);
        assert!(slots.try_take().is_ok());
    }
}
