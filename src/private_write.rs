//! Writing files smtpscope makes (reports, exports, history, profiles, the log): private to the
//! user (files 0600, directories it creates 0700, whatever the umask), never through a symlink
//! someone left in the way, and a replaced file is swapped in whole, so a reader never sees
//! half of it.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::bounded_read::FileKind;

/// Creates `dir` and any missing parents as 0700. A directory that exists is left as it is:
/// its owner chose its mode.
pub fn create_private_dir_all(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

fn private_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Writes `bytes` to a new file at `path`, 0600. Fails with `AlreadyExists` if anything is
/// there, a symlink included (O_EXCL never follows one), so the caller picks another name.
pub fn create_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = private_options().create_new(true).open(path)?;
    let written = file.write_all(bytes);
    if written.is_err() {
        // Only what this call created goes; a half-written file would read as a corrupt one.
        let _ = std::fs::remove_file(path);
    }
    written
}

/// Replaces `path` with a file holding `bytes`, 0600: written to a new temporary file in the
/// same directory, then renamed over `path`. The rename replaces a symlink at `path` itself
/// rather than writing into whatever it points at (which is what we want: a planted link to
/// a system file must not get our report), and a reader sees the old file or the new one,
/// never a mix.
pub fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = temporary_beside(path)?;
    let result = (|| {
        let mut file = private_options().create_new(true).open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A name for a temporary file next to `path`, unique per process and per call, so two
/// writers never share one; hidden, so a half-written one is not mistaken for the real file.
fn temporary_beside(path: &Path) -> std::io::Result<PathBuf> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "names no file"))?;
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".tmp-{}-{n}", std::process::id()));
    Ok(path.with_file_name(tmp))
}

/// Opens `path` to append to it, creating it 0600 if missing (the log).
pub fn open_append(path: &Path) -> std::io::Result<File> {
    let mut options = private_options();
    options.append(true).create(true);
    options.open(path)
}

/// Why a file the user named cannot be replaced by [`replace`]; found before the work that
/// produces its contents, so nothing is lost.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("is {0}: give the path of a file")]
    NotAFile(FileKind),
    #[error("is a symbolic link to {0}: give the path of a file")]
    LinkToNotAFile(FileKind),
    #[error("no such directory {}", .0.display())]
    NoDirectory(PathBuf),
    #[error("cannot look at it: {0}")]
    Stat(std::io::Error),
}

/// Checks that [`replace`] can put a file at `path`: nothing there yet (in a directory that
/// exists), a regular file, or a symlink to a regular file or to nothing (the link is what gets
/// replaced). A FIFO, device, socket or directory is refused, and so is a link to one, because
/// replacing `/dev/stdout` or a named pipe with a plain file is never what was meant.
pub fn check_replaceable(path: &Path) -> Result<(), TargetError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => match std::fs::metadata(path) {
            Ok(target) => match FileKind::of(target.file_type()) {
                None => Ok(()),
                Some(kind) => Err(TargetError::LinkToNotAFile(kind)),
            },
            // A dangling link: replacing it harms nothing.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(TargetError::Stat(e)),
        },
        Ok(meta) => match FileKind::of(meta.file_type()) {
            None => Ok(()),
            Some(kind) => Err(TargetError::NotAFile(kind)),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            if dir.is_dir() {
                Ok(())
            } else {
                Err(TargetError::NoDirectory(dir.to_path_buf()))
            }
        }
        Err(e) => Err(TargetError::Stat(e)),
    }
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .expect("stat")
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn a_replaced_file_is_private_and_a_symlink_is_replaced_not_followed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep me").expect("write");
        let link = dir.path().join("report.json");
        std::os::unix::fs::symlink(&victim, &link).expect("symlink");
        check_replaceable(&link).expect("a link to a file may be replaced");
        replace(&link, b"report").expect("replaced");
        assert_eq!(std::fs::read_to_string(&victim).expect("read"), "keep me");
        assert!(std::fs::symlink_metadata(&link).expect("stat").is_file());
        assert_eq!(std::fs::read_to_string(&link).expect("read"), "report");
        assert_eq!(mode(&link), 0o600);
        // No temporary file left behind.
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 2);
    }

    #[test]
    fn a_new_file_is_never_an_existing_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run.json");
        create_new(&path, b"one").expect("created");
        assert_eq!(mode(&path), 0o600);
        let again = create_new(&path, b"two").expect_err("exists");
        assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &link).expect("symlink");
        assert!(
            create_new(&link, b"x").is_err(),
            "a dangling link is not followed"
        );
        assert!(!dir.path().join("nowhere").exists());
    }

    #[test]
    fn what_cannot_be_replaced_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            check_replaceable(dir.path()),
            Err(TargetError::NotAFile(FileKind::Directory))
        ));
        assert!(matches!(
            check_replaceable(Path::new("/dev/null")),
            Err(TargetError::NotAFile(FileKind::CharDevice))
        ));
        let link = dir.path().join("out");
        std::os::unix::fs::symlink("/dev/null", &link).expect("symlink");
        let e = check_replaceable(&link).expect_err("a link to a device");
        assert_eq!(
            e.to_string(),
            "is a symbolic link to a character device: give the path of a file"
        );
        let e = check_replaceable(&dir.path().join("no/such/x")).expect_err("no directory");
        assert!(e.to_string().starts_with("no such directory"), "{e}");
        check_replaceable(&dir.path().join("new.json")).expect("a new file");
        check_replaceable(Path::new("relative-new-file.json")).expect("in the current dir");
    }

    #[test]
    fn created_directories_are_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let deep = dir.path().join("a/b");
        create_private_dir_all(&deep).expect("created");
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&deep), 0o700);
        let log = deep.join("log");
        drop(open_append(&log).expect("opened"));
        assert_eq!(mode(&log), 0o600);
    }
}
