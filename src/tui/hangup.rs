//! Notices when the terminal goes away. The kernel sends SIGHUP only to the session leader, so
//! when smtpscope runs under a shell that survives the hang-up (or ignores SIGHUP), no signal
//! comes; crossterm's reader then sees end-of-file forever and spins. A thread blocked in
//! poll(2) on the terminal with no events requested wakes only for POLLHUP or POLLERR, so it
//! costs nothing while the terminal lives.

use std::os::fd::AsFd;

/// Blocks until the terminal hangs up; returns false if it cannot be polled. The terminal is
/// standard input when that is one, else /dev/tty, which crossterm then reads instead.
#[cfg(unix)]
pub fn wait_for_hangup() -> bool {
    use std::io::IsTerminal;

    if std::io::stdin().is_terminal() {
        return wait_on(std::io::stdin().as_fd());
    }
    // The one open outside `bounded_read`: a device on purpose, polled, never read from.
    match std::fs::File::open("/dev/tty") {
        Ok(tty) => wait_on(tty.as_fd()),
        Err(_) => false,
    }
}

#[cfg(unix)]
fn wait_on(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    use rustix::event::{PollFd, PollFlags, poll};

    loop {
        let mut fds = [PollFd::new(&fd, PollFlags::empty())];
        match poll(&mut fds, None) {
            Ok(_) => {
                let r = fds[0].revents();
                if r.intersects(PollFlags::HUP | PollFlags::ERR) {
                    return true;
                }
                // macOS reports POLLNVAL for a tty poll(2) cannot watch: that is no hang-up,
                // only a watcher that cannot work there, so it stops without quitting the app.
                if r.contains(PollFlags::NVAL) {
                    return false;
                }
            }
            // A signal (a resize, say) interrupted the wait: wait again.
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return false,
        }
    }
}

#[cfg(not(unix))]
pub fn wait_for_hangup() -> bool {
    false
}

/// Whether standard input has hung up, without waiting. Asked only after the screen could
/// not be drawn; no isatty check, since isatty itself fails on a terminal that hung up.
#[cfg(unix)]
pub fn is_hung_up() -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};

    let stdin = std::io::stdin();
    let fd = stdin.as_fd();
    let mut fds = [PollFd::new(&fd, PollFlags::empty())];
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    poll(&mut fds, Some(&now)).is_ok()
        && fds[0].revents().intersects(PollFlags::HUP | PollFlags::ERR)
}

#[cfg(not(unix))]
pub fn is_hung_up() -> bool {
    false
}
