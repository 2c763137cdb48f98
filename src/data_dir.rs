//! The data directory: the log, exported session records and run history live here, never in
//! whatever directory smtpscope happened to be started from.

use std::path::PathBuf;

/// Environment variable that overrides the data directory (tests use it).
pub const DATA_DIR_ENV: &str = "SMTPSCOPE_DATA_DIR";

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("cannot find a home directory for smtpscope's data; set {DATA_DIR_ENV}")]
    NoHome,
}

/// `$SMTPSCOPE_DATA_DIR`, else the platform's (e.g. `~/.local/share/smtpscope` on Linux). Not
/// created here: whoever writes creates what it needs, private (0700, files 0600), through
/// [`crate::private_write`].
pub fn data_dir() -> Result<PathBuf, DataDirError> {
    if let Some(dir) = std::env::var_os(DATA_DIR_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("", "", "smtpscope")
        .map(|d| d.data_dir().to_path_buf())
        .ok_or(DataDirError::NoHome)
}

/// Where the explorer's exports go unless told otherwise.
pub fn exports_dir() -> Result<PathBuf, DataDirError> {
    Ok(data_dir()?.join("exports"))
}

/// Where run history is kept, one directory per profile.
pub fn history_dir() -> Result<PathBuf, DataDirError> {
    Ok(data_dir()?.join("history"))
}
