//! Following a log file as `tail -F` does: new lines as they are written, on across rotation
//! (the name now points at a new file: the old one is read to its end first) and truncation
//! (the file got shorter: read again from its start).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::lines::Partial;

/// What one poll noticed besides new lines.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Noticed {
    pub rotated: bool,
    pub truncated: bool,
    /// The name is gone (rotated away, not yet recreated); the old file is still read.
    pub missing: bool,
}

/// Bytes read per poll at most, so a burst of log does not hold up alerts and ticks.
const READ_PER_POLL: usize = 8 * 1024 * 1024;

pub struct Follower {
    path: PathBuf,
    file: File,
    identity: (u64, u64),
    pos: u64,
    partial: Partial,
    buf: Vec<u8>,
}

/// Regular files only: a FIFO or device under the log's name would never end.
fn open(path: &Path) -> io::Result<File> {
    crate::bounded_read::open_regular(path)
        .map(|(file, _)| file)
        .map_err(io::Error::other)
}

#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn identity(_meta: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

impl Follower {
    /// Opens `path`; with `from_start` its existing lines are read too, else only what is
    /// written from now on.
    pub fn open(path: &Path, from_start: bool) -> io::Result<Follower> {
        let mut file = open(path)?;
        let meta = file.metadata()?;
        let pos = if from_start {
            0
        } else {
            file.seek(SeekFrom::End(0))?
        };
        Ok(Follower {
            path: path.to_path_buf(),
            file,
            identity: identity(&meta),
            pos,
            partial: Partial::default(),
            buf: vec![0; 64 * 1024],
        })
    }

    /// Reads what is new, calling `each` per complete line.
    pub fn poll(&mut self, each: &mut impl FnMut(&[u8])) -> io::Result<Noticed> {
        let mut noticed = Noticed::default();
        match std::fs::metadata(&self.path) {
            Ok(meta) if identity(&meta) != self.identity => {
                // Rotated: what the old file still holds first, then the new one from its start.
                self.read_available(each, usize::MAX)?;
                self.partial.finish(each);
                if let Ok(file) = open(&self.path) {
                    let meta = file.metadata()?;
                    self.file = file;
                    self.identity = identity(&meta);
                    self.pos = 0;
                    noticed.rotated = true;
                }
            }
            Ok(meta) if meta.len() < self.pos => {
                self.file.seek(SeekFrom::Start(0))?;
                self.pos = 0;
                self.partial = Partial::default();
                noticed.truncated = true;
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => noticed.missing = true,
            Err(e) => return Err(e),
        }
        self.read_available(each, READ_PER_POLL)?;
        Ok(noticed)
    }

    fn read_available(&mut self, each: &mut impl FnMut(&[u8]), limit: usize) -> io::Result<()> {
        let mut read = 0;
        while read < limit {
            let n = match self.file.read(&mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                break;
            }
            self.pos += n as u64;
            read += n;
            self.partial.feed(&self.buf[..n], each);
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code
mod tests {
    use super::*;
    use std::io::Write;

    fn lines(f: &mut Follower) -> (Vec<String>, Noticed) {
        let mut out = Vec::new();
        let n = f
            .poll(&mut |l| out.push(String::from_utf8_lossy(l).into_owned()))
            .unwrap();
        (out, n)
    }

    #[test]
    fn new_lines_rotation_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mail.log");
        std::fs::write(&path, "old line\n").unwrap();
        let mut f = Follower::open(&path, false).unwrap();
        assert_eq!(lines(&mut f).0, Vec::<String>::new(), "from the end");
        let mut w = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        w.write_all(b"one\ntw").unwrap();
        assert_eq!(lines(&mut f).0, ["one"]);
        w.write_all(b"o\n").unwrap();
        assert_eq!(lines(&mut f).0, ["two"]);
        // Rotation: the old file gets a last line, is renamed, and a new one is created.
        w.write_all(b"last of old\n").unwrap();
        std::fs::rename(&path, dir.path().join("mail.log.1")).unwrap();
        let (got, n) = lines(&mut f);
        assert!(n.missing);
        assert_eq!(got, ["last of old"]);
        std::fs::write(&path, "first of new\n").unwrap();
        let (got, n) = lines(&mut f);
        assert!(n.rotated);
        assert_eq!(got, ["first of new"]);
        // Truncation (copytruncate): read again from the start.
        std::fs::write(&path, "").unwrap();
        let (got, n) = lines(&mut f);
        assert!(n.truncated);
        assert!(got.is_empty());
        let mut w = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        w.write_all(b"after truncate\n").unwrap();
        assert_eq!(lines(&mut f).0, ["after truncate"]);
    }
}
