//! What the practice lab prints and writes when it starts, as README and SECURITY.md §6 say:
//! the banner (test accounts, each server's address and CA file, a ready `check` command per
//! server that runs as printed, `--proxy-protocol`'s and `--lmtp`'s flags in them), `smtpscope`
//! with no terminal starting it in text form, and the CA directory (0700 under umask 022; an
//! existing directory of the same name refused, never written into).

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use smtpscope::lab::{Lab, LabConfig, Policy};

/// A lab process started by this test, read up to its banner's last line.
struct Running {
    child: Child,
    /// Everything it printed up to "Press Ctrl-C to stop.".
    banner: String,
    /// Its TMPDIR, where the CA directory goes.
    tmp: tempfile::TempDir,
}

/// Runs `smtpscope ARGS` under umask 022, stdin and stdout not a terminal, with an empty
/// config directory, and reads its stdout up to the banner's end (bounded: 30 s).
fn start(args: &[&str]) -> Running {
    let tmp = tempfile::tempdir().expect("tmp");
    let config = tempfile::tempdir().expect("config");
    let mut child = Command::new("sh")
        .args(["-c", "umask 022; exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_smtpscope"))
        .args(args)
        .env("TMPDIR", tmp.path())
        .env("SMTPSCOPE_CONFIG_DIR", config.path())
        .env("SMTPSCOPE_DATA_DIR", config.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn smtpscope");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut banner = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            banner.push_str(&line);
            banner.push('\n');
            if line.contains("Press Ctrl-C to stop") {
                let _ = tx.send(Ok(banner));
                return;
            }
        }
        let _ = tx.send(Err(banner));
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Ok(banner)) => Running { child, banner, tmp },
        other => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("smtpscope {args:?} printed no whole banner: {other:?}");
        }
    }
}

impl Running {
    /// SIGINT (Ctrl-C), by this child's pid; waits for a clean exit (bounded: 15 s). Returns
    /// its TMPDIR, to look at what is left.
    fn stop(mut self) -> tempfile::TempDir {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
        for _ in 0..750 {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                assert_eq!(s.code(), Some(0), "a clean stop:\n{}", self.banner);
                return self.tmp;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!("the lab did not stop on SIGINT");
    }

    /// The CA files named after "CA " in the servers' lines.
    fn ca_paths(&self) -> Vec<PathBuf> {
        self.banner
            .lines()
            .filter_map(|l| l.split_once("   CA ").map(|(_, p)| PathBuf::from(p.trim())))
            .collect()
    }

    /// The printed `check` commands, each joined from its `\`-continued lines.
    fn check_commands(&self) -> Vec<String> {
        let joined = self.banner.replace("\\\n", " ");
        joined
            .lines()
            .map(str::trim)
            .filter(|l| l.contains("smtpscope check "))
            .map(String::from)
            .collect()
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Runs a printed command as a user pastes it, with this build's binary for `smtpscope`.
fn run_printed(command: &str) -> (Option<i32>, String) {
    let config = tempfile::tempdir().expect("config");
    let line = command.replacen("smtpscope check", "\"$SMTPSCOPE\" check", 1);
    let out = Command::new("sh")
        .args(["-c", &line])
        .env("SMTPSCOPE", env!("CARGO_BIN_EXE_smtpscope"))
        .env("SMTPSCOPE_CONFIG_DIR", config.path())
        .env("SMTPSCOPE_DATA_DIR", config.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run the printed command");
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// README: the lab "prints each server's address, the CA file to pass as `--ca-file`, the test
/// accounts (alice may relay anywhere after AUTH; bob only to partner.example), and a ready
/// `smtpscope check` command for each server". Each printed command is run as printed: the
/// open relay FAILs scenario A and the secure server passes (exit 1 and 0). SECURITY.md §6: the
/// CA's directory is 0700 under umask 022, and goes with the lab.
#[test]
fn the_lab_prints_accounts_ca_files_and_check_commands_that_run() {
    let lab = start(&["lab"]);
    let b = lab.banner.clone();
    for want in [
        "Test accounts:",
        "alice / alice-lab-password  (may relay anywhere after AUTH)",
        "bob / bob-lab-password  (may relay only to partner.example)",
        "open-relay",
        "secure",
    ] {
        assert!(b.contains(want), "{want:?} missing:\n{b}");
    }
    let cas = lab.ca_paths();
    assert_eq!(cas.len(), 2, "one CA line per server:\n{b}");
    for ca in &cas {
        assert!(ca.starts_with(lab.tmp.path()), "{}", ca.display());
        let pem = std::fs::read_to_string(ca).expect("the CA file exists while the lab runs");
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
        let dir = ca.parent().expect("the CA's directory");
        assert_eq!(
            mode(dir),
            0o700,
            "{} under umask 022 (SECURITY.md §6)",
            dir.display()
        );
    }
    let commands = lab.check_commands();
    assert_eq!(commands.len(), 2, "one check command per server:\n{b}");
    let mut codes = Vec::new();
    for (command, ca) in commands.iter().zip(&cas) {
        assert!(
            command.contains(&format!("--ca-file {}", ca.display())),
            "{command}"
        );
        let (code, out) = run_printed(&format!("{command} --scenario A"));
        codes.push(code);
        assert!(!out.contains("panicked"), "{out}");
    }
    // The open relay first, then the secure server, as the banner lists them.
    assert_eq!(codes, [Some(1), Some(0)], "{commands:#?}");
    let tmp = lab.stop();
    assert_eq!(
        std::fs::read_dir(tmp.path()).expect("tmp").count(),
        0,
        "the CA directories go with the lab"
    );
}

/// README: `--proxy-protocol` puts the lab behind a pretend load balancer, and the ready
/// commands carry the flags that get through it: the printed `check` command runs as printed
/// (scenario A passes on the secure server, exit 0), and the session command has them too.
/// `--lmtp`: no relay `check` is offered, and the session command speaks LMTP.
#[test]
fn ready_commands_carry_proxy_protocol_and_lmtp() {
    let lab = start(&["lab", "--policy", "secure", "--proxy-protocol"]);
    let commands = lab.check_commands();
    assert_eq!(commands.len(), 1, "{}", lab.banner);
    assert!(
        commands[0].contains("--proxy v2 --proxy-source 192.0.2.1:40000"),
        "{}",
        commands[0]
    );
    let session = lab
        .banner
        .lines()
        .find(|l| l.contains("smtpscope session "))
        .expect("a session command");
    assert!(session.contains("--proxy v2"), "{session}");
    let (code, out) = run_printed(&format!("{} --scenario A", commands[0]));
    assert_eq!(
        code,
        Some(0),
        "the printed command gets through the PROXY header:\n{out}"
    );
    let _ = lab.stop();

    let lab = start(&["lab", "--policy", "secure", "--lmtp"]);
    assert!(lab.check_commands().is_empty(), "{}", lab.banner);
    assert!(
        lab.banner.contains("LMTP, so no relay check"),
        "{}",
        lab.banner
    );
    let session = lab
        .banner
        .lines()
        .find(|l| l.contains("smtpscope session "))
        .expect("a session command")
        .to_string();
    assert!(session.contains("--protocol lmtp"), "{session}");
    let _ = lab.stop();
}

/// README: "Without a terminal, it starts the lab in text form and prints the `check`
/// commands instead." `smtpscope` alone, stdin and stdout not a terminal, no profiles.
#[test]
fn smtpscope_without_a_terminal_starts_the_lab_and_prints_check_commands() {
    let lab = start(&[]);
    assert!(
        lab.banner
            .starts_with("No saved profiles yet: starting the practice lab."),
        "{}",
        lab.banner
    );
    assert_eq!(lab.check_commands().len(), 2, "{}", lab.banner);
    assert_eq!(lab.ca_paths().len(), 2, "{}", lab.banner);
    let _ = lab.stop();
}

/// SECURITY.md §6: the CA directory "must not exist yet (another user's directory of that
/// name in a shared /tmp is refused, not written into)". Its name is the process id and the
/// port, so this test, in its own process, plants it before starting a lab on that port.
#[test]
fn an_existing_ca_directory_is_refused_and_left_alone() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        probe.local_addr().expect("addr").port()
    };
    let planted = std::env::temp_dir().join(format!("smtpscope-lab-{}-{port}", std::process::id()));
    let _ = std::fs::remove_dir_all(&planted);
    std::fs::create_dir(&planted).expect("plant the directory");
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::write(planted.join("theirs.txt"), "someone else's\n").expect("plant a file");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let started = rt.block_on(Lab::start(
        LabConfig {
            listen: format!("127.0.0.1:{port}").parse().expect("addr"),
            policy: Policy::Secure,
            misbehave: vec![],
            store_dir: None,
        },
        None,
    ));
    let entries: Vec<String> = std::fs::read_dir(&planted)
        .expect("the planted directory is still there")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let kept_mode = mode(&planted);
    let _ = std::fs::remove_dir_all(&planted);
    let err = match started {
        Ok(lab) => panic!(
            "the lab started over an existing directory, CA at {}",
            lab.ca_path.display()
        ),
        Err(e) => e.to_string(),
    };
    assert!(err.contains(&planted.display().to_string()), "{err}");
    assert_eq!(entries, ["theirs.txt"], "nothing written into it: {err}");
    assert_eq!(kept_mode, 0o755, "its mode untouched");
}
