//! Where passwords come from. Never the command line (it shows in `ps` and shell history) and
//! never a file that smtpscope writes.

use std::io::IsTerminal;
use std::path::Path;

use secrecy::SecretString;
use zeroize::Zeroizing;

/// Why a password could not be had, naming the source that failed.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The name is shown only when it is written like one (capitals, digits, `_`): anything
    /// else given as a variable's name may be the password itself (`--password-env hunter2`).
    #[error("{}", unset_text(var))]
    EnvUnset { var: String },
    #[error("environment variable {var} is empty")]
    EnvEmpty { var: String },
    #[error("environment variable {var} is not valid UTF-8")]
    EnvNotUnicode { var: String },
    /// Only `--password-file` names a file (a profile never does), so the flag is named.
    #[error("--password-file {}: {}", .0.path().display(), .0)]
    FileUnreadable(#[source] crate::bounded_read::ReadError),
    #[error("password file {} is empty", path.display())]
    FileEmpty { path: std::path::PathBuf },
    #[error("password_command is empty")]
    CommandEmpty,
    #[error("cannot run password_command `{shown}`: {reason}")]
    CommandNotRun { shown: String, reason: String },
    #[error("password_command `{shown}` failed: {reason}")]
    CommandFailed { shown: String, reason: String },
    #[error("password_command `{shown}` did not finish within 30 s")]
    CommandTimeout { shown: String },
    #[error("password_command `{shown}` exited with {status}: {stderr}")]
    CommandExit {
        shown: String,
        status: String,
        stderr: String,
    },
    #[error("password_command `{shown}` printed invalid UTF-8")]
    CommandNotUtf8 { shown: String },
    #[error("password_command `{shown}` printed nothing")]
    CommandSilent { shown: String },
    #[error(
        "no password source: give --password-env VAR or --password-file FILE (no terminal to prompt on)"
    )]
    NoTerminal,
    #[error("cannot read the password from the terminal: {0}")]
    Prompt(String),
}

/// Whether `name` is written as environment variables are by convention (`SMTP_PW`): upper
/// case ASCII letters, digits and `_`, not starting with a digit.
fn looks_like_variable(name: &str) -> bool {
    name.bytes().next().is_some_and(|b| !b.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

fn unset_text(var: &str) -> String {
    if looks_like_variable(var) {
        format!("environment variable {var} is not set")
    } else {
        "the environment variable named for the password is not set (its name is not repeated: it is not written like a variable's name, in capitals, and may be the password itself; give the variable's name, not the password)".into()
    }
}

/// Reads a secret from an environment variable.
pub fn from_env(var: &str) -> Result<SecretString, SecretError> {
    let var_name = || var.to_string();
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Ok(SecretString::from(v)),
        Ok(_) => Err(SecretError::EnvEmpty { var: var_name() }),
        Err(std::env::VarError::NotPresent) => Err(SecretError::EnvUnset { var: var_name() }),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(SecretError::EnvNotUnicode { var: var_name() })
        }
    }
}

/// A password file holds one line; anything near this size is the wrong file.
const PASSWORD_FILE_LIMIT: crate::bounded_read::Limit = crate::bounded_read::Limit {
    bytes: 64 * crate::bounded_read::KIB,
    what: "a password file",
};

/// Reads a secret from the first line of a file.
pub fn from_file(path: &Path) -> Result<SecretString, SecretError> {
    // Kept as bytes until the line is taken, so what is wiped is the one buffer read into.
    let bytes = Zeroizing::new(
        crate::bounded_read::read_regular(path, PASSWORD_FILE_LIMIT)
            .map_err(SecretError::FileUnreadable)?,
    );
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        SecretError::FileUnreadable(crate::bounded_read::ReadError::NotUtf8 {
            path: path.to_path_buf(),
        })
    })?;
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Err(SecretError::FileEmpty {
            path: path.to_path_buf(),
        });
    }
    Ok(SecretString::from(line.to_string()))
}

/// A warning when a password file can be read by others, as ssh gives for a private key.
#[cfg(unix)]
pub fn file_permissions_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "password file {} is readable by others (mode {:o}); chmod 600 it",
            path.display(),
            mode & 0o777
        )
    })
}

#[cfg(not(unix))]
pub fn file_permissions_warning(_path: &Path) -> Option<String> {
    None
}

/// Runs a password manager command (e.g. `["pass", "show", "mail/alice"]`) and takes the first
/// line of its output. Bounded: a command that does not finish in 30 s is abandoned.
pub fn from_command(argv: &[String]) -> Result<SecretString, SecretError> {
    let (program, args) = argv.split_first().ok_or(SecretError::CommandEmpty)?;
    let shown = argv.join(" ");
    let child = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| SecretError::CommandNotRun {
            shown: shown.clone(),
            reason: e.to_string(),
        })?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = match rx.recv_timeout(std::time::Duration::from_secs(30)) {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => {
            return Err(SecretError::CommandFailed {
                shown,
                reason: e.to_string(),
            });
        }
        Err(_) => return Err(SecretError::CommandTimeout { shown }),
    };
    let stdout = Zeroizing::new(output.stdout);
    if !output.status.success() {
        return Err(SecretError::CommandExit {
            shown,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    let Ok(text) = std::str::from_utf8(&stdout) else {
        return Err(SecretError::CommandNotUtf8 { shown });
    };
    match text.lines().next() {
        Some(line) if !line.is_empty() => Ok(SecretString::from(line.to_string())),
        _ => Err(SecretError::CommandSilent { shown }),
    }
}

/// Asks on the terminal without echo; refuses when there is no terminal, so a pipeline never
/// hangs on a prompt.
pub fn prompt(label: &str) -> Result<SecretString, SecretError> {
    if !std::io::stdin().is_terminal() {
        return Err(SecretError::NoTerminal);
    }
    rpassword::prompt_password(label)
        .map(SecretString::from)
        .map_err(|e| SecretError::Prompt(e.to_string()))
}

/// The first source given wins: environment variable, then file, then a prompt.
pub fn resolve(
    env: Option<&str>,
    file: Option<&Path>,
    label: &str,
) -> Result<SecretString, SecretError> {
    match (env, file) {
        (Some(var), _) => from_env(var),
        (None, Some(path)) => from_file(path),
        (None, None) => prompt(label),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn file_source_reads_the_first_line_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\nignored\n").expect("write");
        assert_eq!(from_file(&path).expect("read").expose_secret(), "s3cret");
        std::fs::write(&path, "").expect("write");
        assert!(
            from_file(&path)
                .expect_err("empty")
                .to_string()
                .contains("is empty")
        );
        let missing = dir.path().join("missing");
        assert!(
            from_file(&missing)
                .expect_err("missing")
                .to_string()
                .contains(&format!("--password-file {}: ", missing.display()))
        );
    }

    #[test]
    fn command_source_takes_the_first_line_and_reports_failures() {
        let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let ok = from_command(&argv(&["printf", "pw-from-cmd\\nsecond\\n"])).expect("runs");
        assert_eq!(ok.expose_secret(), "pw-from-cmd");
        let failed = from_command(&argv(&["false"]))
            .expect_err("fails")
            .to_string();
        assert!(failed.contains("exited with"), "{failed}");
        let missing = from_command(&argv(&["/nonexistent/smtpscope-pw"]))
            .expect_err("missing")
            .to_string();
        assert!(missing.contains("cannot run password_command"), "{missing}");
        assert!(from_command(&[]).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn a_password_file_others_can_read_is_warned_about() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let w = file_permissions_warning(&path).expect("warned");
        assert!(w.contains("readable by others (mode 644)"), "{w}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(file_permissions_warning(&path), None);
    }

    #[test]
    fn missing_env_var_is_named() {
        let err = from_env("SMTPSCOPE_TEST_SURELY_UNSET_VAR").expect_err("unset");
        assert!(
            matches!(&err, SecretError::EnvUnset { var } if var == "SMTPSCOPE_TEST_SURELY_UNSET_VAR")
        );
        let err = err.to_string();
        assert!(err.contains("SMTPSCOPE_TEST_SURELY_UNSET_VAR"), "{err}");
    }

    /// `--password-env hunter2`: what was given may be the password, so it is not echoed.
    #[test]
    fn a_name_not_written_like_a_variable_is_not_echoed() {
        for given in ["hunter2", "Corr3ct-Horse", "pass word", "9LIVES"] {
            let err = from_env(given).expect_err("unset").to_string();
            assert!(!err.contains(given), "{given} echoed: {err}");
            assert!(err.contains("is not set"), "{err}");
        }
    }
}
