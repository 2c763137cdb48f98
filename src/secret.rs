//! Where passwords come from. Never the command line (it shows in `ps` and shell history) and
//! never a file that smtpscope writes.

use std::io::IsTerminal;
use std::path::Path;

use secrecy::SecretString;
use zeroize::Zeroizing;

/// Reads a secret from an environment variable.
pub fn from_env(var: &str) -> Result<SecretString, String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Ok(SecretString::from(v)),
        Ok(_) => Err(format!("environment variable {var} is empty")),
        Err(std::env::VarError::NotPresent) => {
            Err(format!("environment variable {var} is not set"))
        }
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(format!("environment variable {var} is not valid UTF-8"))
        }
    }
}

/// Reads a secret from the first line of a file.
pub fn from_file(path: &Path) -> Result<SecretString, String> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read password file {}: {e}", path.display()))?,
    );
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Err(format!("password file {} is empty", path.display()));
    }
    Ok(SecretString::from(line.to_string()))
}

/// Runs a password manager command (e.g. `["pass", "show", "mail/alice"]`) and takes the first
/// line of its output. Bounded: a command that does not finish in 30 s is abandoned.
pub fn from_command(argv: &[String]) -> Result<SecretString, String> {
    let (program, args) = argv.split_first().ok_or("password_command is empty")?;
    let shown = argv.join(" ");
    let child = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run password_command `{shown}`: {e}"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = match rx.recv_timeout(std::time::Duration::from_secs(30)) {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => return Err(format!("password_command `{shown}` failed: {e}")),
        Err(_) => {
            return Err(format!(
                "password_command `{shown}` did not finish within 30 s"
            ));
        }
    };
    let stdout = Zeroizing::new(output.stdout);
    if !output.status.success() {
        return Err(format!(
            "password_command `{shown}` exited with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let text = std::str::from_utf8(&stdout)
        .map_err(|_| format!("password_command `{shown}` printed invalid UTF-8"))?;
    match text.lines().next() {
        Some(line) if !line.is_empty() => Ok(SecretString::from(line.to_string())),
        _ => Err(format!("password_command `{shown}` printed nothing")),
    }
}

/// Asks on the terminal without echo; refuses when there is no terminal, so a pipeline never
/// hangs on a prompt.
pub fn prompt(label: &str) -> Result<SecretString, String> {
    if !std::io::stdin().is_terminal() {
        return Err(
            "no password source: give --password-env VAR or --password-file FILE (no terminal to prompt on)"
                .into(),
        );
    }
    rpassword::prompt_password(label)
        .map(SecretString::from)
        .map_err(|e| format!("cannot read the password from the terminal: {e}"))
}

/// The first source given wins: environment variable, then file, then a prompt.
pub fn resolve(
    env: Option<&str>,
    file: Option<&Path>,
    label: &str,
) -> Result<SecretString, String> {
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
        assert!(from_file(&path).expect_err("empty").contains("is empty"));
        let missing = dir.path().join("missing");
        assert!(
            from_file(&missing)
                .expect_err("missing")
                .contains("cannot read password file")
        );
    }

    #[test]
    fn command_source_takes_the_first_line_and_reports_failures() {
        let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let ok = from_command(&argv(&["printf", "pw-from-cmd\\nsecond\\n"])).expect("runs");
        assert_eq!(ok.expose_secret(), "pw-from-cmd");
        let failed = from_command(&argv(&["false"])).expect_err("fails");
        assert!(failed.contains("exited with"), "{failed}");
        let missing = from_command(&argv(&["/nonexistent/smtpscope-pw"])).expect_err("missing");
        assert!(missing.contains("cannot run password_command"), "{missing}");
        assert!(from_command(&[]).is_err());
    }

    #[test]
    fn missing_env_var_is_named() {
        let err = from_env("SMTPSCOPE_TEST_SURELY_UNSET_VAR").expect_err("unset");
        assert!(err.contains("SMTPSCOPE_TEST_SURELY_UNSET_VAR"), "{err}");
    }
}
