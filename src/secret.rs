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
    fn missing_env_var_is_named() {
        let err = from_env("SMTPSCOPE_TEST_SURELY_UNSET_VAR").expect_err("unset");
        assert!(err.contains("SMTPSCOPE_TEST_SURELY_UNSET_VAR"), "{err}");
    }
}
