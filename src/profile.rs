//! Server profiles: TOML files `profiles/NAME.toml` in the config directory.
//!
//! A profile never holds a password written by smtpscope: it names where the password comes
//! from (`password_env`, `password_command`). A `password` typed into the file by hand is read,
//! with a warning, and never written back. Writes are atomic and private (0600); a file that
//! does not parse is reported with line and column and never overwritten.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::net::TlsMode;
use crate::smtp::auth::Mechanism;

/// Environment variable that overrides the config directory (tests use it).
pub const CONFIG_DIR_ENV: &str = "SMTPSCOPE_CONFIG_DIR";

/// The config directory: `$SMTPSCOPE_CONFIG_DIR`, else the platform's (e.g.
/// `~/.config/smtpscope` on Linux).
pub fn config_dir() -> Result<PathBuf, ProfileError> {
    if let Some(dir) = std::env::var_os(CONFIG_DIR_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("", "", "smtpscope")
        .map(|d| d.config_dir().to_path_buf())
        .ok_or(ProfileError::NoConfigDir)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verify {
    #[default]
    Platform,
    Mozilla,
    /// Accept certificates that fail verification (the failure is still recorded).
    Insecure,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub mechanism: Mechanism,
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_command: Option<Vec<String>>,
    /// Read if present (with a warning); never written.
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
}

/// The addresses the relay scenarios use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayAddresses {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_recipient: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_sender: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_recipient: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_recipient: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disallowed_recipient: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_local_sender: Option<String>,
    /// The address the authenticated user may send as (default: the username when it is an
    /// address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_sender: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// May be empty when `domain` is set: the MX records then say where to connect.
    #[serde(default)]
    pub server: String,
    /// Find the server from this domain's MX records when `server` is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// DNS server (IP:PORT) for MX lookups; the system's resolver when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_server: Option<String>,
    /// Port on the MX hosts (default 25).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mx_port: Option<u16>,
    #[serde(default)]
    pub tls: TlsMode,
    #[serde(default)]
    pub require_tls: bool,
    #[serde(default)]
    pub verify: Verify,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_name: Option<String>,
    /// Send no SNI in the TLS handshake.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_sni: bool,
    /// Oldest and newest TLS version to offer: "1.2" or "1.3".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_min: Option<crate::net::tls::TlsVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_max: Option<crate::net::tls::TlsVersion>,
    /// A client certificate (PEM, with its chain) and its private key (PEM), both or neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<f64>,
    /// The longest one session may take (default 600 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_timeout_secs: Option<f64>,
    /// A PROXY protocol header to send first (`v1` or `v2`), with `proxy_source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<crate::smtp::proxy::ProxyVersion>,
    /// The client address the PROXY header names (IP:PORT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_source: Option<String>,
    /// A SOCKS5 proxy (HOST:PORT) to connect through; it resolves the server's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socks5: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socks5_user: Option<String>,
    /// The environment variable holding the SOCKS5 password (never the password itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socks5_password_env: Option<String>,
    /// A UNIX domain socket to connect to instead of `server`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket: Option<PathBuf>,
    /// A program to speak SMTP to over its standard input and output instead of `server`
    /// (`exim -bh 192.0.2.9`, `sendmail -bs`), started afresh for each session; split as a
    /// shell would split it, and run without a shell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipe: Option<String>,
    /// Postfix XCLIENT attributes ("ADDR=192.0.2.8", …) sent after EHLO and TLS, so policy is
    /// tested as if from that client.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub xclient: Vec<String>,
    /// Where the explorer writes this profile's session records (F8/F9); `tui --export-dir`
    /// overrides it. Default: `exports/` in the data directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_dir: Option<PathBuf>,
    /// The server's mail log, for the explorer's watch pane (`w`): relay denials and AUTH
    /// failures as the server logged them, beside the scenarios that test the same policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthConfig>,
    #[serde(default)]
    pub relay: RelayAddresses,
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error(
        "{0:?} is not a valid profile name (letters, digits, '.', '_' and '-'; not starting with '.')"
    )]
    BadName(String),
    #[error("no profile {name:?} (looked for {})", path.display())]
    NotFound { name: String, path: PathBuf },
    #[error("cannot read {}: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
    #[error("{}: {}", .0.path().display(), .0)]
    Unreadable(#[source] crate::bounded_read::ReadError),
    #[error("{}:{line}:{column}: {reason}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        reason: String,
    },
    #[error("cannot write {}: {reason}", path.display())]
    Write { path: PathBuf, reason: String },
    #[error("a profile {name:?} already exists ({}); choose another name", path.display())]
    Exists { name: String, path: PathBuf },
    #[error("cannot find a home directory for the config; set {CONFIG_DIR_ENV}")]
    NoConfigDir,
}

pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Line and column (1-based) of a byte offset, for error messages.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// At most `max` characters of `text`: the parser quotes what it did not like, and a 10 MB key
/// echoed back in full would bury the message.
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!(
            "{}… ({} more characters)",
            &text[..cut],
            text[cut..].chars().count()
        ),
        None => text.to_string(),
    }
}

/// Parses TOML text into `T`, turning an error into file:line:column and the reason.
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    text: &str,
    path: &Path,
) -> Result<T, ProfileError> {
    toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
        ProfileError::Parse {
            path: path.to_path_buf(),
            line,
            column,
            reason: shorten(e.message().trim(), 300),
        }
    })
}

impl Profile {
    pub fn parse(text: &str, path: &Path) -> Result<Profile, ProfileError> {
        let profile: Profile = parse_toml(text, path)?;
        // A program on a pipe needs no address: `server` then only names it (TLS, EHLO).
        if profile.server.trim().is_empty() && profile.domain.is_none() && profile.pipe.is_none() {
            return Err(ProfileError::Parse {
                path: path.to_path_buf(),
                line: 1,
                column: 1,
                reason: "give `server`, or `domain` to find it from the MX records".into(),
            });
        }
        Ok(profile)
    }

    /// Warnings a user should see when this profile is used.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.auth.as_ref().is_some_and(|a| a.password.is_some()) {
            w.push(
                "the profile holds a plain `password`: smtpscope reads it but never writes it back; prefer password_env or password_command"
                    .into(),
            );
        }
        if self.verify == Verify::Insecure {
            w.push("certificate verification is off (verify = \"insecure\")".into());
        }
        w
    }

    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(self)
    }
}

/// A profile is a few hundred bytes; a file near this size is the wrong file.
const PROFILE_LIMIT: crate::bounded_read::Limit = crate::bounded_read::Limit {
    bytes: crate::bounded_read::MIB,
    what: "a profile",
};

pub fn load_path(path: &Path) -> Result<Profile, ProfileError> {
    let text = crate::bounded_read::read_regular_to_string(path, PROFILE_LIMIT)
        .map_err(ProfileError::Unreadable)?;
    Profile::parse(&text, path)
}

/// A profile file by name, parsed or with the error that stops it parsing.
pub type Listed = (String, Result<Profile, ProfileError>);

/// The profiles directory of one config directory.
#[derive(Debug, Clone)]
pub struct ProfileStore {
    dir: PathBuf,
}

impl ProfileStore {
    pub fn new(config_dir: &Path) -> Self {
        ProfileStore {
            dir: config_dir.join("profiles"),
        }
    }

    /// The store in the user's config directory (or `$SMTPSCOPE_CONFIG_DIR`).
    pub fn from_env() -> Result<Self, ProfileError> {
        Ok(Self::new(&config_dir()?))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, name: &str) -> Result<PathBuf, ProfileError> {
        if !valid_name(name) {
            return Err(ProfileError::BadName(name.to_string()));
        }
        Ok(self.dir.join(format!("{name}.toml")))
    }

    pub fn load(&self, name: &str) -> Result<Profile, ProfileError> {
        let path = self.path(name)?;
        if !path.exists() {
            return Err(ProfileError::NotFound {
                name: name.to_string(),
                path,
            });
        }
        load_path(&path)
    }

    /// Every profile file, parsed or with the error that stops it parsing, sorted by name.
    pub fn list(&self) -> Result<Vec<Listed>, ProfileError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(ProfileError::Read {
                    path: self.dir.clone(),
                    reason: e.to_string(),
                });
            }
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "toml")
                && let Some(name) = path.file_stem().and_then(|s| s.to_str())
                && valid_name(name)
            {
                out.push((name.to_string(), load_path(&path)));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Saves atomically (temporary file in the same directory, then rename) with mode 0600.
    /// An existing file that does not parse is left untouched: the user may have work in it.
    pub fn save(&self, name: &str, profile: &Profile) -> Result<PathBuf, ProfileError> {
        let path = self.path(name)?;
        if path.exists()
            && let Err(e @ ProfileError::Parse { .. }) = load_path(&path)
        {
            return Err(ProfileError::Write {
                path: path.clone(),
                reason: format!("the existing file does not parse ({e}); fix or remove it first"),
            });
        }
        let text = profile.to_toml().map_err(|e| ProfileError::Write {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        write_private_atomic(&path, text.as_bytes()).map_err(|e| ProfileError::Write {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        Ok(path)
    }
}

impl ProfileStore {
    /// Renames a profile's file. The file is moved, not rewritten, so nothing in it is lost
    /// (comments included); an existing profile of the new name is never replaced.
    pub fn rename(&self, from: &str, to: &str) -> Result<PathBuf, ProfileError> {
        let old = self.path(from)?;
        let new = self.path(to)?;
        if !old.exists() {
            return Err(ProfileError::NotFound {
                name: from.to_string(),
                path: old,
            });
        }
        let exists = || ProfileError::Exists {
            name: to.to_string(),
            path: new.clone(),
        };
        let write = |e: std::io::Error| ProfileError::Write {
            path: new.clone(),
            reason: e.to_string(),
        };
        // A hard link fails if the new name exists, with no window between a check and the
        // rename for another writer to slip into; then the old name goes.
        match std::fs::hard_link(&old, &new) {
            Ok(()) => std::fs::remove_file(&old).map_err(|e| ProfileError::Write {
                path: old.clone(),
                reason: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(exists()),
            // No hard links on this file system: check, then rename.
            Err(_) if new.exists() => return Err(exists()),
            Err(_) => std::fs::rename(&old, &new).map_err(write)?,
        }
        Ok(new)
    }
}

/// Profiles may name password sources, so their directory and files are the user's alone.
fn write_private_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "no parent directory")
    })?;
    crate::private_write::create_private_dir_all(dir)?;
    crate::private_write::replace(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_moves_the_file_whole_and_refuses_clashes_and_bad_names() {
        let dir = tempfile::tempdir().expect("dir");
        let store = ProfileStore::new(dir.path());
        std::fs::create_dir_all(store.dir()).expect("mkdir");
        let text = "# hand-written comment kept\nserver = \"mx.example.com:25\"\n";
        std::fs::write(store.dir().join("old.toml"), text).expect("write");
        std::fs::write(store.dir().join("taken.toml"), "server = \"b:25\"\n").expect("write");

        let path = store.rename("old", "new").expect("renamed");
        assert_eq!(path, store.dir().join("new.toml"));
        assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
        assert!(!store.dir().join("old.toml").exists());

        let e = store.rename("new", "taken").expect_err("clash");
        assert!(
            matches!(&e, ProfileError::Exists { name, .. } if name == "taken"),
            "{e}"
        );
        assert!(e.to_string().contains("already exists"), "{e}");
        assert_eq!(
            std::fs::read_to_string(store.dir().join("taken.toml")).expect("read"),
            "server = \"b:25\"\n",
            "the existing profile is untouched"
        );
        assert_eq!(std::fs::read_to_string(&path).expect("read"), text);

        let e = store.rename("new", "../escape").expect_err("bad name");
        assert!(matches!(e, ProfileError::BadName(_)), "{e}");
        let e = store.rename("new", "").expect_err("empty name");
        assert!(matches!(e, ProfileError::BadName(_)), "{e}");
        let e = store.rename("missing", "other").expect_err("missing");
        assert!(matches!(e, ProfileError::NotFound { .. }), "{e}");
        assert!(path.exists(), "nothing lost on any error");
    }

    const FULL: &str = r#"
server = "mx.example.com:25"
tls = "starttls"
require_tls = true
verify = "platform"
ca_file = "/path/ca.pem"
tls_name = "mx.example.com"
helo = "probe.example.com"
timeout_secs = 30

[auth]
mechanism = "cram-md5"
username = "alice@example.com"
password_env = "SMTPSCOPE_PASSWORD"

[relay]
local_recipient = "postmaster@example.com"
external_sender = "relay-test@outside.example.net"
external_recipient = "relay-test@elsewhere.example.org"
approved_recipient = "someone@partner.example"
disallowed_recipient = "someone@not-approved.example"
other_local_sender = "someone-else@example.com"
"#;

    #[test]
    fn the_documented_example_parses_and_round_trips() {
        let p = Profile::parse(FULL, Path::new("x.toml")).expect("parses");
        assert_eq!(p.tls, TlsMode::Starttls);
        assert!(p.require_tls);
        assert_eq!(
            p.auth.as_ref().map(|a| a.mechanism),
            Some(Mechanism::CramMd5)
        );
        assert_eq!(
            p.relay.approved_recipient.as_deref(),
            Some("someone@partner.example")
        );
        let again =
            Profile::parse(&p.to_toml().expect("toml"), Path::new("y.toml")).expect("re-parses");
        assert_eq!(again, p);
    }

    #[test]
    fn a_huge_bad_key_is_not_echoed_in_full() {
        let text = format!("server = \"a:25\"\n{} = 1\n", "k".repeat(100_000));
        let e = Profile::parse(&text, Path::new("p.toml")).expect_err("unknown key");
        let s = e.to_string();
        assert!(s.len() < 600, "{} characters", s.len());
        assert!(s.contains("more characters)"), "{s}");
    }

    #[test]
    fn errors_give_line_column_and_reason() {
        let text = "server = \"a:25\"\ntls = \"sometimes\"\n";
        match Profile::parse(text, Path::new("/c/profiles/p.toml")) {
            Err(
                e @ ProfileError::Parse {
                    line: 2, column: 7, ..
                },
            ) => {
                let s = e.to_string();
                assert!(s.starts_with("/c/profiles/p.toml:2:7: "), "{s}");
                assert!(s.contains("sometimes") || s.contains("variant"), "{s}");
            }
            other => panic!("{other:?}"),
        }
        let typo = "server = \"a:25\"\nrequre_tls = true\n";
        let e = Profile::parse(typo, Path::new("p.toml")).expect_err("unknown key");
        assert!(e.to_string().contains("requre_tls"), "{e}");
    }

    #[test]
    fn a_plain_password_is_read_with_a_warning_and_never_written() {
        let text = "server = \"a:25\"\n[auth]\nmechanism = \"plain\"\nusername = \"u\"\npassword = \"hunter2\"\n";
        let p = Profile::parse(text, Path::new("p.toml")).expect("parses");
        assert_eq!(
            p.auth.as_ref().and_then(|a| a.password.as_deref()),
            Some("hunter2")
        );
        assert!(p.warnings().iter().any(|w| w.contains("plain `password`")));
        let written = p.to_toml().expect("toml");
        assert!(!written.contains("hunter2"), "{written}");
        assert!(!written.contains("password ="), "{written}");
    }

    #[test]
    fn save_is_private_atomic_and_never_clobbers_a_broken_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ProfileStore::new(dir.path());
        assert!(store.list().expect("empty list").is_empty());
        let p = Profile::parse(FULL, Path::new("x.toml")).expect("parses");
        let path = store.save("mx", &p).expect("saved");
        assert_eq!(store.load("mx").expect("loads"), p);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(store.path("broken").expect("path"), "server = [\n").expect("write");
        let before = std::fs::read(store.path("broken").expect("path")).expect("read");
        let e = store.save("broken", &p).expect_err("refuses");
        assert!(e.to_string().contains("does not parse"), "{e}");
        assert_eq!(
            std::fs::read(store.path("broken").expect("path")).expect("read"),
            before
        );
        let listed = store.list().expect("list");
        assert_eq!(listed.len(), 2);
        assert!(
            matches!(listed[0], (ref n, Err(ProfileError::Parse { line: 1, .. })) if n == "broken")
        );
        assert!(matches!(
            store.load("nope"),
            Err(ProfileError::NotFound { .. })
        ));
        assert!(matches!(store.path("../x"), Err(ProfileError::BadName(_))));
        let leftovers: Vec<_> = std::fs::read_dir(store.dir())
            .expect("dir")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
    }

    /// Readers never see a half-written profile, and the test shows that reads really did
    /// happen while saves were in flight: a reader loops for as long as the writers run, and
    /// counts the reads that began or ended with a save under way.
    #[test]
    fn concurrent_saves_never_leave_a_corrupt_file() {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ProfileStore::new(dir.path());
        let base = Profile::parse(FULL, Path::new("x.toml")).expect("parses");
        // The file exists before the race, so every read must find a whole profile.
        store.save("shared", &base).expect("first save");
        let in_flight = AtomicUsize::new(0);
        let writers_done = AtomicBool::new(false);
        let (reads, overlapped) = std::thread::scope(|scope| {
            let writers: Vec<_> = (0..4)
                .map(|t| {
                    let (store, in_flight) = (store.clone(), &in_flight);
                    let mut p = base.clone();
                    scope.spawn(move || {
                        for i in 0..50 {
                            p.helo = Some(format!("writer-{t}-{i}.example"));
                            in_flight.fetch_add(1, Ordering::SeqCst);
                            let saved = store.save("shared", &p);
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                            saved.expect("save");
                        }
                    })
                })
                .collect();
            let reader = {
                let (store, in_flight, done) = (store.clone(), &in_flight, &writers_done);
                scope.spawn(move || {
                    let (mut reads, mut overlapped) = (0usize, 0usize);
                    while !done.load(Ordering::SeqCst) {
                        let before = in_flight.load(Ordering::SeqCst);
                        let read = store.load("shared");
                        let after = in_flight.load(Ordering::SeqCst);
                        match read {
                            Ok(p) => assert!(
                                p.helo.as_deref().is_some_and(
                                    |h| h.starts_with("writer-") || h == "probe.example.com"
                                ),
                                "{:?}",
                                p.helo
                            ),
                            Err(e) => panic!("a reader saw a broken profile: {e}"),
                        }
                        reads += 1;
                        if before > 0 || after > 0 {
                            overlapped += 1;
                        }
                    }
                    (reads, overlapped)
                })
            };
            for w in writers {
                w.join().expect("writer");
            }
            writers_done.store(true, Ordering::SeqCst);
            reader.join().expect("reader")
        });
        // Without overlap the test would prove nothing about atomicity.
        assert!(
            overlapped >= 20,
            "only {overlapped} of {reads} reads overlapped a save"
        );
        assert!(store.load("shared").is_ok());
        let leftovers = std::fs::read_dir(store.dir()).expect("dir").count();
        assert_eq!(leftovers, 1, "no temporary files left behind");
    }

    #[test]
    fn a_profile_from_the_first_release_still_loads() {
        // The smallest file 0.1 wrote: only what was required then.
        let old = "server = \"mx.example.com:25\"\n[auth]\nmechanism = \"login\"\nusername = \"u\"\npassword_env = \"P\"\n";
        let p = Profile::parse(old, Path::new("old.toml")).expect("old profiles load");
        assert_eq!(p.tls, TlsMode::Starttls);
        assert_eq!(p.verify, Verify::Platform);
        assert!(p.relay.auth_sender.is_none());
    }

    #[test]
    fn names_are_checked() {
        assert!(valid_name("lab-secure"));
        assert!(valid_name("mx1.example_2"));
        assert!(!valid_name("../etc"));
        assert!(!valid_name(".hidden"));
        assert!(!valid_name(""));
        assert!(!valid_name("a/b"));
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}
