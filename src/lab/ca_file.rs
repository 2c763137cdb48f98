//! The lab's CA certificate on disk, for `--ca-file`: written into a directory of its own under
//! the temporary directory, and removed with it when the value is dropped, so that every exit
//! path that unwinds (a normal stop, a signal handled as one, an error after the write) cleans
//! up.

use std::path::{Path, PathBuf};

use super::server::LabError;

#[derive(Debug)]
pub(crate) struct CaFile {
    path: PathBuf,
}

impl CaFile {
    /// Creates `dir` (which must not exist yet: another user's directory of that name in a
    /// shared /tmp must not receive our file) and writes `pem` into it as `ca.pem`.
    pub(crate) fn write(dir: &Path, pem: &str) -> Result<CaFile, LabError> {
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(|source| LabError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let file = CaFile {
            path: dir.join("ca.pem"),
        };
        // From here on `file` owns the directory: an error below drops it, removing both.
        std::fs::write(&file.path, pem).map_err(|source| LabError::WriteFile {
            path: file.path.clone(),
            source,
        })?;
        Ok(file)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for CaFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}
