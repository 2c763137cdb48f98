//! Reading a file the user named, bounded: only a regular file (a symlink is followed, but what
//! it points at must be one), refused when larger than the caller's limit, and never more than
//! that read even if it grows meanwhile. `/dev/zero`, a FIFO or a 1 GB file given where a
//! profile or a password belongs must end in a clear error, not in a hang or in swap.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The most a caller accepts, and what for, so the refusal can say why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub bytes: u64,
    /// What may be that large, for the error: "a profile", "a password file".
    pub what: &'static str,
}

pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * KIB;

/// What a path turned out to be, when it is not a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Directory,
    Fifo,
    CharDevice,
    BlockDevice,
    Socket,
    Other,
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FileKind::Directory => "a directory",
            FileKind::Fifo => "a FIFO",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Socket => "a socket",
            FileKind::Other => "not a file",
        })
    }
}

impl FileKind {
    /// `None` for a regular file.
    pub fn of(file_type: std::fs::FileType) -> Option<FileKind> {
        if file_type.is_file() {
            return None;
        }
        if file_type.is_dir() {
            return Some(FileKind::Directory);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if file_type.is_fifo() {
                return Some(FileKind::Fifo);
            }
            if file_type.is_char_device() {
                return Some(FileKind::CharDevice);
            }
            if file_type.is_block_device() {
                return Some(FileKind::BlockDevice);
            }
            if file_type.is_socket() {
                return Some(FileKind::Socket);
            }
        }
        Some(FileKind::Other)
    }
}

/// Why a file was not read. The text leaves the path out: each caller puts the flag or profile
/// key and the path in front of it ("--attach /dev/zero: is a character device, …").
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}", open_reason(source))]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("is {kind}, not a regular file")]
    NotRegular { path: PathBuf, kind: FileKind },
    #[error("is {}; {} may be at most {}", size_text(*size), limit.what, size_text(limit.bytes))]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: Limit,
    },
    #[error("grew past {} while it was read; {} may be at most that", size_text(limit.bytes), limit.what)]
    Grew { path: PathBuf, limit: Limit },
    #[error("cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("is not UTF-8 text")]
    NotUtf8 { path: PathBuf },
}

impl ReadError {
    pub fn path(&self) -> &Path {
        match self {
            ReadError::Open { path, .. }
            | ReadError::NotRegular { path, .. }
            | ReadError::TooLarge { path, .. }
            | ReadError::Grew { path, .. }
            | ReadError::Read { path, .. }
            | ReadError::NotUtf8 { path } => path,
        }
    }

    /// True when there is no such file (callers that treat "missing" as "none yet").
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Open { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

fn open_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => format!("cannot open it: {e}"),
    }
}

/// A size as people read it: "512 bytes", "64 KiB", "1.5 MiB", "1 GiB".
pub fn size_text(bytes: u64) -> String {
    const GIB: u64 = 1024 * MIB;
    let (unit, name) = match bytes {
        b if b >= GIB => (GIB, "GiB"),
        b if b >= MIB => (MIB, "MiB"),
        b if b >= KIB => (KIB, "KiB"),
        _ => return format!("{bytes} bytes"),
    };
    if bytes.is_multiple_of(unit) {
        format!("{} {name}", bytes / unit)
    } else {
        // One decimal is enough to tell a file from its limit.
        format!("{:.1} {name}", bytes as f64 / unit as f64)
    }
}

/// Opens `path` for reading if it is a regular file, with its size. Nothing is read, so a
/// caller may stream it (`--data-file`).
pub fn open_regular(path: &Path) -> Result<(File, u64), ReadError> {
    let not_regular = |kind| ReadError::NotRegular {
        path: path.to_path_buf(),
        kind,
    };
    // Looked at before opening too: opening some devices does something (a tape rewinds, a
    // watchdog starts), so what is plainly not a file is not even opened.
    if let Ok(meta) = std::fs::metadata(path)
        && let Some(kind) = FileKind::of(meta.file_type())
    {
        return Err(not_regular(kind));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use rustix::fs::OFlags;
        use std::os::unix::fs::OpenOptionsExt;
        // Non-blocking, so a FIFO swapped in after the look above opens at once instead of
        // waiting for a writer; and a terminal never becomes our controlling one.
        options.custom_flags((OFlags::NONBLOCK | OFlags::NOCTTY).bits().cast_signed());
    }
    let file = options.open(path).map_err(|source| ReadError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    // The handle is what counts (fstat), not the name: the name may point elsewhere by now.
    let meta = file.metadata().map_err(|source| ReadError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    if let Some(kind) = FileKind::of(meta.file_type()) {
        return Err(not_regular(kind));
    }
    Ok((file, meta.len()))
}

/// The whole of `path`, a regular file of at most `limit.bytes` bytes.
pub fn read_regular(path: &Path, limit: Limit) -> Result<Vec<u8>, ReadError> {
    let (file, size) = open_regular(path)?;
    if size > limit.bytes {
        return Err(ReadError::TooLarge {
            path: path.to_path_buf(),
            size,
            limit,
        });
    }
    // One byte past the limit tells a file that grew since fstat from one that fits exactly.
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(limit.bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| ReadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > limit.bytes {
        return Err(ReadError::Grew {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(bytes)
}

/// Everything `reader` gives (standard input, `--data-file -`), at most `limit.bytes`: one
/// byte more is refused as [`ReadError::Grew`] rather than read on. `name` stands for the
/// path in errors ("-").
pub fn read_stream<R: Read>(reader: R, name: &Path, limit: Limit) -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::new();
    reader
        .take(limit.bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| ReadError::Read {
            path: name.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > limit.bytes {
        return Err(ReadError::Grew {
            path: name.to_path_buf(),
            limit,
        });
    }
    Ok(bytes)
}

/// As [`read_regular`], as UTF-8 text.
pub fn read_regular_to_string(path: &Path, limit: Limit) -> Result<String, ReadError> {
    String::from_utf8(read_regular(path, limit)?).map_err(|_| ReadError::NotUtf8 {
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Limit = Limit {
        bytes: 8,
        what: "a test file",
    };

    #[test]
    fn a_stream_is_read_up_to_its_limit_and_no_further() {
        let name = Path::new("-");
        let got = read_stream(&b"12345678"[..], name, SMALL).expect("fits");
        assert_eq!(got, b"12345678");
        let err = read_stream(&b"123456789"[..], name, SMALL).expect_err("too long");
        assert!(matches!(err, ReadError::Grew { .. }), "{err}");
        // An endless source is cut at the limit, not read to the end.
        let err = read_stream(std::io::repeat(b'x'), name, SMALL).expect_err("endless");
        assert!(matches!(err, ReadError::Grew { .. }), "{err}");
    }

    #[test]
    fn a_file_within_the_limit_is_read_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345678").expect("write");
        assert_eq!(read_regular(&path, SMALL).expect("read"), b"12345678");
        assert_eq!(
            read_regular_to_string(&path, SMALL).expect("read"),
            "12345678"
        );
    }

    #[test]
    fn a_file_one_byte_over_is_refused_before_reading() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, b"123456789").expect("write");
        let e = read_regular(&path, SMALL).expect_err("too large");
        assert!(matches!(e, ReadError::TooLarge { size: 9, .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "is 9 bytes; a test file may be at most 8 bytes"
        );
    }

    #[test]
    fn what_is_not_a_regular_file_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = read_regular(dir.path(), SMALL).expect_err("a directory");
        assert_eq!(e.to_string(), "is a directory, not a regular file");
        #[cfg(unix)]
        {
            let e = read_regular(Path::new("/dev/zero"), SMALL).expect_err("a device");
            assert_eq!(e.to_string(), "is a character device, not a regular file");
            // A symlink is followed, and what it points at decides.
            let link = dir.path().join("link");
            std::os::unix::fs::symlink("/dev/zero", &link).expect("symlink");
            let e = read_regular(&link, SMALL).expect_err("a link to a device");
            assert!(matches!(
                e,
                ReadError::NotRegular {
                    kind: FileKind::CharDevice,
                    ..
                }
            ));
            assert_eq!(e.path(), link);
        }
        let missing = dir.path().join("missing");
        let e = read_regular(&missing, SMALL).expect_err("missing");
        assert!(e.is_not_found(), "{e:?}");
    }

    #[test]
    fn text_must_be_utf8() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, [0xff, 0xfe]).expect("write");
        let e = read_regular_to_string(&path, SMALL).expect_err("not UTF-8");
        assert_eq!(e.to_string(), "is not UTF-8 text");
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size_text(512), "512 bytes");
        assert_eq!(size_text(64 * KIB), "64 KiB");
        assert_eq!(size_text(MIB + MIB / 2), "1.5 MiB");
        assert_eq!(size_text(1024 * MIB), "1 GiB");
    }
}
