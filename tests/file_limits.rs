//! Every file the user names is read bounded: `/dev/zero`, a FIFO and a 1 GiB (sparse) file
//! given to each file flag and as profiles and scenario files end in exit 2 naming the flag and
//! the file within seconds, with the process's peak RSS under 64 MiB, and before anything
//! connects (a listener on loopback stands in for the server and must see no connection).
//! Also: no file is read in `src/` except through the bounded reader.

#![cfg(unix)]
#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

use std::ffi::OsString;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use assert_cmd::Command;

/// The most memory a refused run may reach (its time is not bounded here: a hang shows as the
/// kill at 30 s, which fails the exit-code assertion). The memory bound tells
/// a bounded read from an unbounded one: the hostile inputs are 1 GiB or endless when read
/// whole, while a debug build's own peak is 50-75 MiB (tokio, the trust store, the
/// catalogue), measured as the peak of all children so far (RUSAGE_CHILDREN), which other
/// tests of this file share. 64 MiB was too close to that baseline and failed on it.
const MAX_RSS_KIB: u64 = 256 * 1024;

/// A loopback listener standing in for the server. Nothing accepts, so a client that
/// connected would still be queued in the backlog when the run is over.
struct Listener(TcpListener);

impl Listener {
    fn new() -> Listener {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        Listener(l)
    }

    fn addr(&self) -> String {
        self.0.local_addr().unwrap().to_string()
    }

    fn connections(&self) -> usize {
        let mut n = 0;
        loop {
            match self.0.accept() {
                Ok(_) => n += 1,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return n,
                Err(e) => panic!("accept: {e}"),
            }
        }
    }
}

/// `/dev/zero`, a FIFO nobody writes to, and a 1 GiB file that takes no disk (sparse).
struct Hostile {
    _dir: tempfile::TempDir,
    fifo: PathBuf,
    sparse: PathBuf,
}

impl Hostile {
    fn new() -> Hostile {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let sparse = dir.path().join("sparse");
        std::fs::File::create(&sparse)
            .unwrap()
            .set_len(1 << 30)
            .unwrap();
        Hostile {
            _dir: dir,
            fifo,
            sparse,
        }
    }

    /// Each input with what the refusal must say about it.
    fn inputs(&self) -> [(PathBuf, &'static str); 3] {
        [
            (
                PathBuf::from("/dev/zero"),
                "is a character device, not a regular file",
            ),
            (self.fifo.clone(), "is a FIFO, not a regular file"),
            (self.sparse.clone(), "is 1 GiB;"),
        ]
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
    peak_rss_kib: u64,
}

/// The largest resident set of any child this test process has waited for (getrusage,
/// RUSAGE_CHILDREN). Tests run side by side, so it may be another test's child: every one of
/// them is held to the same bound, so the figure bounds this run too. A figure that cannot be
/// had fails the test: an unmeasured run proves nothing.
fn children_peak_rss_kib() -> u64 {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage(RUSAGE_CHILDREN): the peak RSS cannot be measured");
    let kib = u64::try_from(usage.max_rss()).expect("ru_maxrss is not negative");
    assert!(
        kib > 0,
        "ru_maxrss reads 0 after a child ran: cannot measure"
    );
    kib
}

fn smtpscope(config: &Path, args: &[OsString]) -> Run {
    let started = Instant::now();
    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .env("SMTPSCOPE_CONFIG_DIR", config)
        .env("SMTPSCOPE_DATA_DIR", config.join("data"))
        .env_remove("NO_COLOR")
        .args(args)
        // A hang shows as a kill here: no exit code, so `code == Some(2)` fails.
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
        peak_rss_kib: children_peak_rss_kib(),
    }
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// Runs `args` plus the hostile `file` (as `make(file)` gives it), for each hostile input:
/// exit 2, the flag and the file named with the reason, small (bounded memory), and no connection.
fn refused_each_way(
    what: &str,
    args: &[&str],
    make: impl Fn(&Path) -> Vec<OsString>,
    says: impl Fn(&Path) -> String,
) {
    let hostile = Hostile::new();
    let config = tempfile::tempdir().unwrap();
    for (file, reason) in hostile.inputs() {
        let server = Listener::new();
        let mut full = os(args);
        full.extend(os(&["--server", &server.addr()]));
        full.extend(make(&file));
        let run = smtpscope(config.path(), &full);
        let said = format!("{what} {}: {}{}", file.display(), run.stdout, run.stderr);
        eprintln!(
            "{what} {}: exit {:?} in {:?}, children's peak RSS {} KiB",
            file.display(),
            run.code,
            run.elapsed,
            run.peak_rss_kib
        );
        assert_eq!(run.code, Some(2), "{said}");
        assert!(run.stderr.contains(&says(&file)), "{said}");
        assert!(run.stderr.contains(reason), "{said}");
        assert!(!run.stderr.contains("panicked"), "{said}");
        assert!(
            run.peak_rss_kib < MAX_RSS_KIB,
            "peak RSS {} KiB: {said}",
            run.peak_rss_kib
        );
        assert_eq!(server.connections(), 0, "connected before refusing: {said}");
    }
}

#[test]
fn session_body_from_a_file_is_bounded() {
    refused_each_way(
        "--body",
        &["session", "--to", "a@b.example"],
        |f| vec!["--body".into(), format!("@{}", f.display()).into()],
        |f| format!("--body @{}: ", f.display()),
    );
}

#[test]
fn session_attachments_are_bounded() {
    refused_each_way(
        "--attach",
        &["session", "--to", "a@b.example"],
        |f| vec!["--attach".into(), f.into()],
        |f| format!("--attach {}: ", f.display()),
    );
}

#[test]
fn check_baseline_is_bounded() {
    refused_each_way(
        "--baseline",
        &["check", "--scenario", "A"],
        |f| vec!["--baseline".into(), f.into()],
        |f| format!("--baseline cannot read {}: ", f.display()),
    );
}

#[test]
fn password_files_are_bounded() {
    refused_each_way(
        "--password-file",
        &["session", "--auth", "plain", "--user", "u"],
        |f| vec!["--password-file".into(), f.into()],
        |f| format!("--password-file {}: ", f.display()),
    );
}

#[test]
fn tls_files_are_bounded() {
    for sub in ["session", "check"] {
        refused_each_way(
            "--ca-file",
            &[sub],
            |f| vec!["--ca-file".into(), f.into()],
            |f| format!("--ca-file {}: ", f.display()),
        );
    }
    // A client certificate and its key: each named by its own flag.
    let good = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["client.test".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_file, key_file) = (good.path().join("c.pem"), good.path().join("c.key"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    refused_each_way(
        "--tls-cert",
        &["session", "--tls-key", key_file.to_str().unwrap()],
        |f| vec!["--tls-cert".into(), f.into()],
        |f| format!("--tls-cert {}: ", f.display()),
    );
    refused_each_way(
        "--tls-key",
        &["session", "--tls-cert", cert_file.to_str().unwrap()],
        |f| vec!["--tls-key".into(), f.into()],
        |f| format!("--tls-key {}: ", f.display()),
    );
}

/// `--data-file` is streamed, so a large file is fine; a device or a FIFO is not.
#[test]
fn a_data_file_must_be_a_regular_file() {
    let hostile = Hostile::new();
    let config = tempfile::tempdir().unwrap();
    for (file, reason) in hostile.inputs().into_iter().take(2) {
        let server = Listener::new();
        let mut args = os(&["session", "--to", "a@b.example", "--server", &server.addr()]);
        args.extend([OsString::from("--data-file"), file.clone().into()]);
        let run = smtpscope(config.path(), &args);
        let said = format!("{}{}", run.stdout, run.stderr);
        assert_eq!(run.code, Some(2), "{said}");
        assert!(
            run.stderr
                .contains(&format!("--data-file {}: {reason}", file.display())),
            "{said}"
        );
        assert!(run.peak_rss_kib < MAX_RSS_KIB);
        assert_eq!(server.connections(), 0, "{said}");
    }
}

/// Profiles that are a symlink to `/dev/zero`, a FIFO and a symlink to a 1 GiB file: `profiles
/// list` names each and still lists the good one; `--profile` with any of them is exit 2.
#[test]
fn profiles_are_bounded_and_one_bad_file_hides_no_other() {
    let hostile = Hostile::new();
    let config = tempfile::tempdir().unwrap();
    let profiles = config.path().join("profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    std::os::unix::fs::symlink("/dev/zero", profiles.join("zero.toml")).unwrap();
    nix::unistd::mkfifo(
        &profiles.join("pipe.toml"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    std::os::unix::fs::symlink(&hostile.sparse, profiles.join("huge.toml")).unwrap();
    std::fs::write(profiles.join("good.toml"), "server = \"127.0.0.1:9\"\n").unwrap();

    let run = smtpscope(config.path(), &os(&["profiles", "list"]));
    let said = format!("{}{}", run.stdout, run.stderr);
    assert_eq!(run.code, Some(2), "a broken profile is exit 2: {said}");
    assert!(run.peak_rss_kib < MAX_RSS_KIB, "{} KiB", run.peak_rss_kib);
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("good ") && l.contains("127.0.0.1:9")),
        "{said}"
    );
    for (name, reason) in [
        ("zero", "is a character device, not a regular file"),
        ("pipe", "is a FIFO, not a regular file"),
        ("huge", "is 1 GiB; a profile may be at most 1 MiB"),
    ] {
        let line = format!(
            "BROKEN: {}: {reason}",
            profiles.join(format!("{name}.toml")).display()
        );
        assert!(run.stdout.contains(&line), "{name}: {said}");
    }

    for name in ["zero", "pipe", "huge"] {
        let server = Listener::new();
        let run = smtpscope(
            config.path(),
            &os(&["check", "--profile", name, "--server", &server.addr()]),
        );
        let said = format!("{}{}", run.stdout, run.stderr);
        assert_eq!(run.code, Some(2), "{name}: {said}");
        assert!(run.stderr.contains(&format!("{name}.toml: ")), "{said}");
        assert!(run.peak_rss_kib < MAX_RSS_KIB);
        assert_eq!(server.connections(), 0, "{said}");
    }
}

/// A scenario file in the config directory that is a device, a FIFO or too large is named
/// and left out; the built-ins still load.
#[test]
fn scenario_files_are_bounded() {
    let hostile = Hostile::new();
    let config = tempfile::tempdir().unwrap();
    let scenarios = config.path().join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    std::os::unix::fs::symlink("/dev/zero", scenarios.join("zero.toml")).unwrap();
    nix::unistd::mkfifo(
        &scenarios.join("pipe.toml"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    std::os::unix::fs::symlink(&hostile.sparse, scenarios.join("huge.toml")).unwrap();
    let run = smtpscope(config.path(), &os(&["scenarios", "list"]));
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(run.peak_rss_kib < MAX_RSS_KIB, "{} KiB", run.peak_rss_kib);
    assert!(run.stdout.contains("unauth-relay"), "{said}");
    for (name, reason) in [
        ("zero", "is a character device, not a regular file"),
        ("pipe", "is a FIFO, not a regular file"),
        ("huge", "is 1 GiB; a scenario file may be at most 1 MiB"),
    ] {
        let named = format!(
            "{}: {reason}",
            scenarios.join(format!("{name}.toml")).display()
        );
        assert!(run.stderr.contains(&named), "{name}: {said}");
    }
}

/// The reads above are all there is: outside the bounded reader, `src/` opens no file to
/// read it, except the terminal device the explorer watches for a hang-up.
#[test]
fn every_file_read_in_src_goes_through_the_bounded_reader() {
    const READS: &[&str] = &[
        "fs::read(",
        "fs::read_to_string(",
        "File::open(",
        ".read_to_end(",
        ".read_to_string(",
    ];
    // File, then why it may.
    const ALLOWED: &[(&str, &str)] = &[
        ("bounded_read.rs", "the bounded reader itself"),
        (
            "tui/hangup.rs",
            "opens /dev/tty to watch for a hang-up, never reads a file",
        ),
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 50, "found only {} files", files.len());
    let mut found = Vec::new();
    for file in &files {
        let rel = file
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if ALLOWED.iter().any(|(f, _)| *f == rel) {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        // Unit tests (at the end of a file) may read what they wrote.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for (n, line) in code.lines().enumerate() {
            let line = line.split("//").next().unwrap_or("");
            if let Some(read) = READS.iter().find(|r| line.contains(*r)) {
                found.push(format!("src/{rel}:{}: {read}", n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "file reads outside src/bounded_read.rs (use read_regular or open_regular):\n{}",
        found.join("\n")
    );
}
