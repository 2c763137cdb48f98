//! `--pipe COMMAND`: SMTP over a program's standard input and output (swaks' `--pipe`). A
//! scripted stdio server (tests/common/stdio_smtp.py) injects the faults: a preamble before the
//! banner, stderr noise, a program that dies mid-session, one that never answers. Real Exim
//! (`exim -bh 192.0.2.9`, with a config of the test's own) gives `check --pipe` a server
//! policy to judge, compared with what `exim -bh` itself answers.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::Duration;

use assert_cmd::Command;

fn script() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/common/stdio_smtp.py")
        .display()
        .to_string()
}

/// The scripted server as a `--pipe` command line, with `flags`.
fn scripted(flags: &str) -> String {
    format!("python3 '{}' --lifetime 60 {flags}", script())
}

fn smtpscope(config: &Path, args: &[&str]) -> (i32, String) {
    let mut cmd = Command::cargo_bin("smtpscope").expect("binary");
    cmd.timeout(Duration::from_secs(60));
    cmd.env("SMTPSCOPE_CONFIG_DIR", config);
    cmd.args(args);
    let out = cmd.output().expect("run smtpscope");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn session(extra: &[&str]) -> (i32, String) {
    let config = tempfile::tempdir().unwrap();
    let mut args = vec!["session", "--helo", "probe.test", "--tls", "none"];
    args.extend_from_slice(extra);
    smtpscope(config.path(), &args)
}

/// The pid the transcript names in "connected to pipe: … (pid N)".
fn pid_of(text: &str) -> u32 {
    let at = text.find("(pid ").expect("a pid in the transcript") + 5;
    text[at..]
        .split(')')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a pid number")
}

fn running(pid: u32) -> bool {
    // A zombie still has a /proc entry; its state is Z. Neither may be left.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok()
}

#[test]
fn a_session_over_a_pipe_shows_the_program_and_its_preamble() {
    let cmd = scripted("--preamble --stderr-noise 5");
    let (code, out) = session(&[
        "--pipe",
        &cmd,
        "--from",
        "a@example.net",
        "--to",
        "bob@lab.test",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("-- connected to pipe: {cmd} (pid ")),
        "{out}"
    );
    // exim -bh's announcement is shown, not read as a malformed banner.
    assert!(
        out.contains("printed by the program before its banner"),
        "{out}"
    );
    assert!(out.contains("S: 220 pipe.lab.test ESMTP scripted"), "{out}");
    assert!(out.contains("S: 250 2.1.5 Ok"), "{out}");
    assert!(out.contains("exited with status 0"), "{out}");
    // Standard error is shown on failure only.
    assert!(!out.contains("noise line"), "{out}");
    assert!(!running(pid_of(&out)), "the program is gone: {out}");
}

#[test]
fn a_program_that_exits_mid_session_is_reported_with_its_status_and_stderr() {
    let cmd = scripted("--stderr-noise 3 --exit-after RCPT");
    let (code, out) = session(&[
        "--pipe",
        &cmd,
        "--from",
        "a@example.net",
        "--to",
        "bob@lab.test",
    ]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("while waiting for"), "{out}");
    assert!(out.contains("exited with status 3"), "{out}");
    assert!(out.contains("stderr: dying at RCPT"), "{out}");
    assert!(out.contains("stderr: noise line 2"), "{out}");
    // The error itself says why, for `check`'s one-line reasons too.
    assert!(
        out.contains("the program exited with status 3, its stderr ending: dying at RCPT"),
        "{out}"
    );
    assert!(!running(pid_of(&out)), "{out}");
}

#[test]
fn a_program_that_never_answers_costs_one_timeout_and_is_killed() {
    let cmd = scripted("--silent");
    let (code, out) = session(&["--pipe", &cmd, "--timeout", "1", "--to", "bob@lab.test"]);
    assert_ne!(code, 0, "{out}");
    assert_eq!(out.matches("-- timeout:").count(), 1, "{out}");
    assert!(out.contains("waiting for the banner"), "{out}");
    assert!(out.contains("killed by smtpscope"), "{out}");
    assert!(out.contains("stderr: silent: never answering"), "{out}");
    assert!(!running(pid_of(&out)), "killed and reaped: {out}");
}

#[test]
fn a_program_that_cannot_start_is_a_connection_failure() {
    let (code, out) = session(&["--pipe", "/nonexistent/smtpd -bs", "--to", "bob@lab.test"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("pipe: /nonexistent/smtpd -bs: the program could not be started"),
        "{out}"
    );
}

#[test]
fn pipe_usage_errors_are_caught_before_anything_starts() {
    for (args, says) in [
        (
            vec!["--pipe", "smtpd 'open", "--to", "b@lab.test"],
            "unclosed quote",
        ),
        (vec!["--pipe", "  ", "--to", "b@lab.test"], "empty"),
        (
            vec!["--pipe", "x", "--socket", "/tmp/s", "--to", "b@lab.test"],
            "cannot be used with",
        ),
        (
            vec!["--pipe", "x", "--domain", "lab.test", "--to", "b@lab.test"],
            "cannot be used with",
        ),
    ] {
        let (code, out) = session(&args);
        assert_eq!(code, 2, "{args:?}: {out}");
        assert!(out.contains(says), "{args:?}: {out}");
    }
}

#[test]
fn a_profile_pipe_key_is_the_route() {
    let config = tempfile::tempdir().unwrap();
    let dir = config.path().join("profiles");
    std::fs::create_dir_all(&dir).unwrap();
    let cmd = scripted("");
    std::fs::write(
        dir.join("piped.toml"),
        format!(
            "server = \"\"\ntls = \"none\"\npipe = \"{}\"\n",
            cmd.replace('\\', "\\\\").replace('"', "\\\"")
        ),
    )
    .unwrap();
    let (code, out) = smtpscope(
        config.path(),
        &[
            "session",
            "--profile",
            "piped",
            "--helo",
            "probe.test",
            "--from",
            "a@example.net",
            "--to",
            "bob@lab.test",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("-- connected to pipe: python3"), "{out}");
}

/// The line of `scenario` in `check`'s human output.
fn verdict_line<'a>(out: &'a str, scenario: &str) -> &'a str {
    out.lines()
        .find(|l| l.split_whitespace().any(|w| w == scenario))
        .unwrap_or_else(|| panic!("no line for {scenario}: {out}"))
}

#[test]
fn check_over_a_pipe_judges_the_relay_policy_and_skips_what_needs_a_socket() {
    let config = tempfile::tempdir().unwrap();
    let cmd = scripted("");
    let common = [
        "--pipe",
        cmd.as_str(),
        "--helo",
        "probe.test",
        "--local-recipient",
        "bob@lab.test",
        "--external-recipient",
        "relaytest@example.com",
        "--timeout",
        "5",
    ];
    let mut args = vec![
        "check",
        "--tls",
        "none",
        "--scenario",
        "unauth-relay",
        "--scenario",
        "starttls",
    ];
    args.extend_from_slice(&common);
    let (_, out) = smtpscope(config.path(), &args);
    assert!(
        verdict_line(&out, "unauth-relay")
            .trim_start()
            .starts_with("PASS"),
        "{out}"
    );
    let tls = verdict_line(&out, "starttls");
    assert!(tls.trim_start().starts_with("SKIPPED"), "{out}");
    assert!(tls.contains("exim -bh does no TLS"), "{out}");

    // The relay tricks that write the server's address literal have none to write.
    let mut args = vec!["check", "--tls", "none", "--scenario", "relay-tricks"];
    args.extend_from_slice(&common);
    let (code, out) = smtpscope(config.path(), &args);
    assert_eq!(code, 0, "{out}");
    let tricks = verdict_line(&out, "relay-tricks");
    assert!(
        tricks.contains("the 3 probes tried as expected, 13 SKIPPED (not applicable over a pipe"),
        "{out}"
    );

    // With STARTTLS on, the version probes (connections of their own) say they do not apply.
    let mut args = vec!["check", "--scenario", "starttls", "--verbose"];
    args.extend_from_slice(&common);
    let (_, out) = smtpscope(config.path(), &args);
    let probe = out
        .lines()
        .find(|l| l.contains("TLS versions accepted"))
        .unwrap_or_else(|| panic!("no version probe step: {out}"));
    assert!(probe.trim_start().starts_with("SKIPPED"), "{out}");
    assert!(probe.contains("not applicable over a pipe"), "{out}");
}

// --- Real Exim -------------------------------------------------------------------------------

/// Exim's binary: `SMTPSCOPE_EXIM`, else `exim4` or `exim` where Debian puts them. .ci/run
/// unpacks Debian's exim4-daemon-light there without installing it (it would remove Postfix).
fn exim() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SMTPSCOPE_EXIM") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    [
        "/usr/sbin/exim4",
        "/usr/sbin/exim",
        "/usr/bin/exim4",
        "/usr/bin/exim",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

fn exim_or_skip(test: &str) -> Option<PathBuf> {
    let found = exim();
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI requires Exim (.ci/run unpacks exim4-daemon-light and sets SMTPSCOPE_EXIM)"
        );
        common::skips::skipped(test, "Exim not found (set SMTPSCOPE_EXIM or install exim4)");
    }
    found
}

/// A minimal Exim configuration with Debian's default relay rule: relay only from
/// 127.0.0.1 or to the local domain lab.test. The spool and logs stay in `dir`.
fn exim_config(dir: &Path) -> PathBuf {
    let spool = dir.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let conf = dir.join("exim.conf");
    std::fs::write(
        &conf,
        format!(
            "primary_hostname = exim.lab.test
domainlist local_domains = lab.test
domainlist relay_to_domains =
hostlist relay_from_hosts = 127.0.0.1
spool_directory = {spool}
log_file_path = {dir}/%slog
acl_smtp_rcpt = acl_check_rcpt
begin acl
acl_check_rcpt:
  accept hosts = +relay_from_hosts
  require message = relay not permitted
          domains = +local_domains : +relay_to_domains
  accept
begin routers
local:
  driver = accept
  domains = +local_domains
  transport = devnull
begin transports
devnull:
  driver = appendfile
  file = /dev/null
",
            spool = spool.display(),
            dir = dir.display()
        ),
    )
    .unwrap();
    conf
}

/// What `exim -bh ADDRESS` itself answers to RCPT TO an outside address (stdout only).
fn exim_rcpt_answer(exim: &Path, conf: &Path, address: &str) -> String {
    let mut child = Process::new(exim)
        .args(["-C", &conf.display().to_string(), "-bh", address])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run exim -bh");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"EHLO probe.test\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<relaytest@example.com>\r\nQUIT\r\n",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .rev()
        .nth(1)
        .map(str::to_string)
        .unwrap_or_else(|| panic!("exim -bh said: {text}"))
}

#[test]
fn a_session_over_exim_bh_is_judged_by_exims_acls() {
    let Some(exim) = exim_or_skip("a_session_over_exim_bh_is_judged_by_exims_acls") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let conf = exim_config(dir.path());
    let cmd = format!("{} -C {} -bh 192.0.2.9", exim.display(), conf.display());
    let (code, out) = session(&[
        "--pipe",
        &cmd,
        "--from",
        "a@example.net",
        "--to",
        "relaytest@example.com",
    ]);
    // Exim refuses the relay from 192.0.2.9: no recipient accepted.
    assert_eq!(code, 7, "{out}");
    assert!(out.contains("S: 550 relay not permitted"), "{out}");
    assert!(
        out.contains("SMTP testing session"),
        "the preamble is shown: {out}"
    );
    assert!(out.contains("exited with status 0"), "{out}");
}

#[test]
fn check_over_exim_bh_gives_scenario_a_the_verdict_exim_implies() {
    let Some(exim) = exim_or_skip("check_over_exim_bh_gives_scenario_a_the_verdict_exim_implies")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let conf = exim_config(dir.path());
    for (address, expected) in [("192.0.2.9", "PASS"), ("127.0.0.1", "FAIL")] {
        let direct = exim_rcpt_answer(&exim, &conf, address);
        let refused = direct.starts_with('5');
        assert_eq!(
            refused,
            expected == "PASS",
            "exim -bh {address} answered RCPT with {direct}"
        );
        let cmd = format!("{} -C {} -bh {address}", exim.display(), conf.display());
        let config = tempfile::tempdir().unwrap();
        let (_, out) = smtpscope(
            config.path(),
            &[
                "check",
                "--pipe",
                &cmd,
                "--tls",
                "none",
                "--server",
                "exim.lab.test",
                "--helo",
                "probe.test",
                "--external-recipient",
                "relaytest@example.com",
                "--scenario",
                "unauth-relay",
                "--timeout",
                "10",
            ],
        );
        assert!(
            out.starts_with(&format!("smtpscope check: pipe: {cmd} (as exim.lab.test)")),
            "{out}"
        );
        let line = verdict_line(&out, "unauth-relay");
        assert!(
            line.trim_start().starts_with(expected),
            "exim -bh {address} said {direct}; check said: {out}"
        );
        assert!(line.contains(direct.trim()), "{out}");
    }
}

// --- Postfix's sendmail -bs ------------------------------------------------------------------

/// Postfix's `sendmail -bs` (stand-alone SMTP on stdin/stdout, a local submission through
/// postdrop) of the test instance: the message arrives in its Maildir.
#[test]
fn sendmail_bs_of_the_postfix_fixture_delivers_over_a_pipe() {
    let test = "sendmail_bs_of_the_postfix_fixture_delivers_over_a_pipe";
    let Some(pf) = common::postfix::shared(test) else {
        return;
    };
    let subject = format!(
        "smtpscope-pipe-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let cmd = format!("/usr/sbin/sendmail -C {} -bs", pf.config_dir().display());
    let recipient = format!("postmaster@{}", pf.domain);
    let (code, out) = session(&[
        "--pipe",
        &cmd,
        "--from",
        &format!("alice@{}", pf.domain),
        "--to",
        &recipient,
        "--header",
        &format!("Subject: {subject}"),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("-- connected to pipe: {cmd} (pid ")),
        "{out}"
    );
    assert!(out.contains("exited with status 0"), "{out}");
    let message = pf
        .wait_for_message_containing("postmaster", subject.as_bytes(), Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}; the session said: {out}"));
    assert!(String::from_utf8_lossy(&message).contains(&subject));
}

/// `sendmail -bs` applies no relay control when run by root (Postfix's sendmail(1): "run the
/// process as the mail_owner user" to enable them): `check --pipe` calls that an open relay,
/// rightly, rather than reading the instance's smtpd policy into it. (As `postfix`, sendmail
/// refuses `-C` for a directory the system's main.cf does not list, so the other half is not
/// tested here.)
#[test]
fn check_over_sendmail_bs_as_root_finds_the_relay_controls_off() {
    let test = "check_over_sendmail_bs_as_root_finds_the_relay_controls_off";
    let Some(pf) = common::postfix::shared(test) else {
        return;
    };
    let cmd = format!("/usr/sbin/sendmail -C {} -bs", pf.config_dir().display());
    let config = tempfile::tempdir().unwrap();
    let (code, out) = smtpscope(
        config.path(),
        &[
            "check",
            "--pipe",
            &cmd,
            "--tls",
            "none",
            "--server",
            &pf.hostname,
            "--helo",
            "probe.test",
            "--external-recipient",
            "relaytest@example.com",
            "--scenario",
            "unauth-relay",
            "--timeout",
            "20",
        ],
    );
    assert_eq!(code, 1, "{out}");
    let line = verdict_line(&out, "unauth-relay");
    assert!(line.trim_start().starts_with("FAIL"), "{out}");
}
