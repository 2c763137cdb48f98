//! A private DNS server (dnsmasq) on 127.0.0.1 that serves fixed test zones under
//! the reserved `.example` TLD, for the domain posture tests.
//!
//! dnsmasq runs as a child process in the foreground (`--keep-in-foreground`), on a
//! free port picked at start (UDP and TCP), bound to 127.0.0.1 only. It has no
//! upstream server (`--no-resolv`, no `server=`) and reads neither /etc/hosts nor
//! /etc/resolv.conf nor /etc/dnsmasq.conf, so it answers only from [`RECORDS`] and
//! never sends a query anywhere:
//!
//! * a name in [`RECORDS`], asked for a type it has: the records (TTL 0, `aa` set);
//! * a name in [`RECORDS`], asked for a type it lacks: NOERROR with no answer (NODATA);
//! * any other name under `.example`: NXDOMAIN (`--local=/example/`);
//! * a name outside `.example`: REFUSED.
//!
//! Negative answers carry no SOA. Config, log and pid file live in one temporary
//! directory. Needs the Debian package `dnsmasq-base` (just the binary, no system
//! service). Use [`shared`] from tests; it skips (or fails on CI) when dnsmasq is
//! missing. [`query`] is a minimal std-only DNS client for checking answers.
//!
//! # The zones
//!
//! Every A record is 127.0.0.1; there are no AAAA records. See [`RECORDS`] for the
//! exact data.
//!
//! | domain              | MX                              | TXT at the domain                        | other names |
//! |---------------------|---------------------------------|------------------------------------------|-------------|
//! | `good.example`      | 10 mx1.good.example, 20 mx2.good.example | `v=spf1 ip4:192.0.2.0/24 include:_spf.good.example -all` | `_spf` (SPF `v=spf1 ip4:198.51.100.0/24 ~all`), `_dmarc`, `_mta-sts`, `_smtp._tls`, `sel1._domainkey` (DKIM, 2048-bit RSA) |
//! | `missing.example`   | none (A 127.0.0.1 only)         | none                                     | none |
//! | `dup.example`       | 10 mx.dup.example               | `v=spf1 -all` and `v=spf1 ~all`          | `_dmarc`, `_mta-sts` (two records each), `sel1._domainkey` (two keys) |
//! | `broken.example`    | 10 mx.broken.example            | `v=spf1 ip4: +all`                       | `_dmarc` (`v=DMARC1; p=maybe`), `_mta-sts` (`v=STSv1; id=bad id!;`), `_smtp._tls` (`v=TLSRPTv1;`), `sel1._domainkey` (`p=` not base64) |
//! | `toomany.example`   | none                            | SPF with 11 `include:`s (a..k)           | `a`..`k.toomany.example`: TXT `v=spf1 a mx -all`, A, MX 10 to itself |
//! | `nullmx.example`    | `0 .` (null MX, RFC 7505)       | none                                     | none |
//! | `softfail.example`  | none                            | `v=spf1 mx ~all`                         | `_dmarc` (`v=DMARC1; p=none`), `sel1._domainkey` (revoked: empty `p=`) |
//! | `open.example`      | none                            | `v=spf1 +all`                            | `_dmarc` (`v=DMARC1; p=quarantine`) |
//! | `neutral.example`   | none                            | `v=spf1 mx ?all`                         | none |
//! | `noall.example`     | none                            | `v=spf1 mx` (no `all`)                   | none |
//! | `nomail.example`    | none, and no address            | `v=spf1 -all`                            | none |
//!
//! Together they give every cell of README's posture table (see `tests/dns_posture.rs`).

use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const START_ATTEMPTS: usize = 3;
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout of one query made by [`DnsServer::query`].
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(3);

pub const GOOD: &str = "good.example";
pub const MISSING: &str = "missing.example";
pub const DUP: &str = "dup.example";
pub const BROKEN: &str = "broken.example";
pub const TOOMANY: &str = "toomany.example";
pub const NULLMX: &str = "nullmx.example";
pub const SOFTFAIL: &str = "softfail.example";
pub const OPEN: &str = "open.example";
pub const NEUTRAL: &str = "neutral.example";
pub const NOALL: &str = "noall.example";
pub const NOMAIL: &str = "nomail.example";
/// All the test domains.
pub const DOMAINS: [&str; 11] = [
    GOOD, MISSING, DUP, BROKEN, TOOMANY, NULLMX, SOFTFAIL, OPEN, NEUTRAL, NOALL, NOMAIL,
];

/// The DKIM selector published for [`GOOD`]: `sel1._domainkey.good.example`.
pub const DKIM_SELECTOR: &str = "sel1";

macro_rules! dkim_public_key {
    () => {
        concat!(
            "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwH0d4jyrKzRhHqZnJbKcmEat9tEVAMRl",
            "EFZuySdPUbJ0IZGw3eyQ2hNBK+BeUB6OIvwP3XYsxeqA9WCPkJA4p5k1t4KKlWk1YzK90nn2oi1z",
            "hkMUT4MHQeMcV+Y9OHoCGpJDVoLzk6VzmYyET1rAEgVDmOmz20+oFFDZU5N46x5jzaMb+35HMGdS",
            "WJK7rRbr4PpQQd9dxhBxRnigU5yjhzcLv9+2qe3pkexiVawBNPB+iXNa8DhRKEowyRWxN22AbL1Y",
            "mIGWQzA6wmTe4DPgGfNHsMhdahbuHXoOVdt0l+nDuL9TdUzm8xs1TV1OcaDD/c4+YXfQmH20RfiT",
            "Ww2f2QIDAQAB"
        )
    };
}

/// Base64 of the DER SubjectPublicKeyInfo of a 2048-bit RSA key (generated once with
/// `openssl genrsa 2048 | openssl rsa -pubout`; the private key was thrown away).
pub const DKIM_PUBLIC_KEY: &str = dkim_public_key!();
/// The TXT record at `sel1._domainkey.good.example` (410 bytes: served as two
/// character-strings of 255 and 155 bytes, which a reader must concatenate).
pub const DKIM_RECORD: &str = concat!("v=DKIM1; k=rsa; p=", dkim_public_key!());

/// One resource record of the test zones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// `name`, preference, exchange (`"."` for a null MX).
    Mx(&'static str, u16, &'static str),
    /// `name`, text: one TXT record. Texts over 255 bytes are served as several
    /// character-strings of at most 255 bytes.
    Txt(&'static str, &'static str),
    /// `name`, IPv4 address.
    A(&'static str, Ipv4Addr),
}

const LOCALHOST: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// Everything the server serves.
pub const RECORDS: &[Record] = &[
    // good.example: everything present and sound.
    Record::Mx(GOOD, 10, "mx1.good.example"),
    Record::Mx(GOOD, 20, "mx2.good.example"),
    Record::A("mx1.good.example", LOCALHOST),
    Record::A("mx2.good.example", LOCALHOST),
    Record::Txt(
        GOOD,
        "v=spf1 ip4:192.0.2.0/24 include:_spf.good.example -all",
    ),
    Record::Txt("_spf.good.example", "v=spf1 ip4:198.51.100.0/24 ~all"),
    Record::Txt(
        "_dmarc.good.example",
        "v=DMARC1; p=reject; rua=mailto:dmarc@good.example; adkim=s",
    ),
    Record::Txt("_mta-sts.good.example", "v=STSv1; id=20261128T000000;"),
    Record::Txt(
        "_smtp._tls.good.example",
        "v=TLSRPTv1; rua=mailto:tlsrpt@good.example",
    ),
    Record::Txt("sel1._domainkey.good.example", DKIM_RECORD),
    // missing.example: an address and nothing else (no MX: mail falls back to the A
    // record, RFC 5321 section 5.1).
    Record::A(MISSING, LOCALHOST),
    // dup.example: two of each record, every one valid on its own.
    Record::Mx(DUP, 10, "mx.dup.example"),
    Record::A("mx.dup.example", LOCALHOST),
    Record::Txt(DUP, "v=spf1 -all"),
    Record::Txt(DUP, "v=spf1 ~all"),
    Record::Txt("_dmarc.dup.example", "v=DMARC1; p=none"),
    Record::Txt("_dmarc.dup.example", "v=DMARC1; p=reject"),
    Record::Txt("_mta-sts.dup.example", "v=STSv1; id=1;"),
    Record::Txt("_mta-sts.dup.example", "v=STSv1; id=2;"),
    Record::Txt(
        "sel1._domainkey.dup.example",
        "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
    ),
    Record::Txt(
        "sel1._domainkey.dup.example",
        "v=DKIM1; k=ed25519; p=Kh9BOVrw7W5FuzM5G2GJDrCb0sPBPbAhMEGmhuv9Tx0=",
    ),
    // broken.example: a record of each kind that does not parse.
    Record::Mx(BROKEN, 10, "mx.broken.example"),
    Record::A("mx.broken.example", LOCALHOST),
    Record::Txt(BROKEN, "v=spf1 ip4: +all"),
    Record::Txt("_dmarc.broken.example", "v=DMARC1; p=maybe"),
    Record::Txt("_mta-sts.broken.example", "v=STSv1; id=bad id!;"),
    Record::Txt("_smtp._tls.broken.example", "v=TLSRPTv1;"),
    Record::Txt(
        "sel1._domainkey.broken.example",
        "v=DKIM1; k=rsa; p=not*base64",
    ),
    // toomany.example: 11 DNS-querying terms at the top level alone, 33 counting those
    // of the included records; every included lookup succeeds (no void lookups), so
    // only the limit of 10 (RFC 7208 section 4.6.4) is exceeded.
    Record::Txt(
        TOOMANY,
        "v=spf1 include:a.toomany.example include:b.toomany.example include:c.toomany.example \
         include:d.toomany.example include:e.toomany.example include:f.toomany.example \
         include:g.toomany.example include:h.toomany.example include:i.toomany.example \
         include:j.toomany.example include:k.toomany.example -all",
    ),
    Record::Txt("a.toomany.example", "v=spf1 a mx -all"),
    Record::Txt("b.toomany.example", "v=spf1 a mx -all"),
    Record::Txt("c.toomany.example", "v=spf1 a mx -all"),
    Record::Txt("d.toomany.example", "v=spf1 a mx -all"),
    Record::Txt("e.toomany.example", "v=spf1 a mx -all"),
    Record::Txt("f.toomany.example", "v=spf1 a mx -all"),
    Record::Txt("g.toomany.example", "v=spf1 a mx -all"),
    Record::Txt("h.toomany.example", "v=spf1 a mx -all"),
    Record::Txt("i.toomany.example", "v=spf1 a mx -all"),
    Record::Txt("j.toomany.example", "v=spf1 a mx -all"),
    Record::Txt("k.toomany.example", "v=spf1 a mx -all"),
    Record::A("a.toomany.example", LOCALHOST),
    Record::A("b.toomany.example", LOCALHOST),
    Record::A("c.toomany.example", LOCALHOST),
    Record::A("d.toomany.example", LOCALHOST),
    Record::A("e.toomany.example", LOCALHOST),
    Record::A("f.toomany.example", LOCALHOST),
    Record::A("g.toomany.example", LOCALHOST),
    Record::A("h.toomany.example", LOCALHOST),
    Record::A("i.toomany.example", LOCALHOST),
    Record::A("j.toomany.example", LOCALHOST),
    Record::A("k.toomany.example", LOCALHOST),
    Record::Mx("a.toomany.example", 10, "a.toomany.example"),
    Record::Mx("b.toomany.example", 10, "b.toomany.example"),
    Record::Mx("c.toomany.example", 10, "c.toomany.example"),
    Record::Mx("d.toomany.example", 10, "d.toomany.example"),
    Record::Mx("e.toomany.example", 10, "e.toomany.example"),
    Record::Mx("f.toomany.example", 10, "f.toomany.example"),
    Record::Mx("g.toomany.example", 10, "g.toomany.example"),
    Record::Mx("h.toomany.example", 10, "h.toomany.example"),
    Record::Mx("i.toomany.example", 10, "i.toomany.example"),
    Record::Mx("j.toomany.example", 10, "j.toomany.example"),
    Record::Mx("k.toomany.example", 10, "k.toomany.example"),
    // nullmx.example: "accepts no mail" (RFC 7505).
    Record::Mx(NULLMX, 0, "."),
    // softfail.example: weak but valid policies; no MX, so `mx` matches nothing.
    Record::Txt(SOFTFAIL, "v=spf1 mx ~all"),
    Record::Txt("_dmarc.softfail.example", "v=DMARC1; p=none"),
    Record::Txt("sel1._domainkey.softfail.example", "v=DKIM1; k=rsa; p="),
    // open.example: a record that parses and lets everyone send; a quarantine policy.
    Record::Txt(OPEN, "v=spf1 +all"),
    Record::Txt("_dmarc.open.example", "v=DMARC1; p=quarantine"),
    // neutral.example and noall.example: SPF that says nothing about other servers.
    Record::Txt(NEUTRAL, "v=spf1 mx ?all"),
    Record::Txt(NOALL, "v=spf1 mx"),
    // nomail.example: the name exists (it has a TXT record) but has no MX and no address.
    Record::Txt(NOMAIL, "v=spf1 -all"),
];

/// The texts of the TXT records of `name` in [`RECORDS`].
pub fn txt_records(name: &str) -> Vec<&'static str> {
    RECORDS
        .iter()
        .filter_map(|r| match r {
            Record::Txt(n, text) if n.eq_ignore_ascii_case(name) => Some(*text),
            _ => None,
        })
        .collect()
}

/// The (preference, exchange) pairs of the MX records of `name` in [`RECORDS`].
pub fn mx_records(name: &str) -> Vec<(u16, &'static str)> {
    RECORDS
        .iter()
        .filter_map(|r| match r {
            Record::Mx(n, pref, exchange) if n.eq_ignore_ascii_case(name) => {
                Some((*pref, *exchange))
            }
            _ => None,
        })
        .collect()
}

/// The A records of `name` in [`RECORDS`].
pub fn a_records(name: &str) -> Vec<Ipv4Addr> {
    RECORDS
        .iter()
        .filter_map(|r| match r {
            Record::A(n, ip) if n.eq_ignore_ascii_case(name) => Some(*ip),
            _ => None,
        })
        .collect()
}

/// A running private dnsmasq. Killed (and its directory removed) on drop; a watchdog
/// process also kills it within about a second after the test process exits.
pub struct DnsServer {
    /// 127.0.0.1 and the port it answers on, over both UDP and TCP.
    pub addr: SocketAddr,
    /// Time `start()` took, for reporting.
    pub startup_time: Duration,
    child: Child,
    watchdog: Option<Child>,
    // Declared last so it is removed after the server has been stopped.
    dir: tempfile::TempDir,
}

/// Why dnsmasq cannot be started here, or `None` when it can.
pub fn missing_requirements() -> Option<String> {
    find_dnsmasq().err()
}

fn find_dnsmasq() -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join("dnsmasq"))
        .find(|candidate| {
            fs::metadata(candidate)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
        .ok_or_else(|| "dnsmasq not installed (apt-get install dnsmasq-base)".to_owned())
}

/// The per-process shared server, started on first use.
///
/// Returns `None` (after printing a SKIPPED line) when dnsmasq is not installed,
/// except under `CI=true`, where that panics. Panics if dnsmasq is present but fails
/// to start.
pub fn shared(test_name: &str) -> Option<&'static DnsServer> {
    static SHARED: OnceLock<Result<Option<DnsServer>, String>> = OnceLock::new();
    match SHARED.get_or_init(DnsServer::start) {
        Ok(Some(server)) => Some(server),
        Ok(None) => {
            let why = missing_requirements()
                .unwrap_or_else(|| "dnsmasq not installed (apt-get install dnsmasq-base)".into());
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI requires dnsmasq: install dnsmasq-base; here: {why}");
            }
            super::skips::skipped(test_name, &why);
            None
        }
        Err(e) => panic!("{test_name}: starting the shared DNS server failed: {e}"),
    }
}

impl DnsServer {
    /// Starts a fresh private server. `Ok(None)` when dnsmasq is not installed.
    pub fn start() -> Result<Option<DnsServer>, String> {
        Self::start_with(&[])
    }

    /// As [`DnsServer::start`], with more dnsmasq.conf lines after [`RECORDS`] (e.g.
    /// `dns-rr=` records made at test time).
    pub fn start_with(extra: &[String]) -> Result<Option<DnsServer>, String> {
        let started = Instant::now();
        let Ok(dnsmasq) = find_dnsmasq() else {
            return Ok(None);
        };
        // The free port is found by binding port 0 and released before dnsmasq binds
        // it, so another process may take it meanwhile: retry with a new port.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match DnsServer::start_once(&dnsmasq, extra) {
                Ok(mut server) => {
                    server.startup_time = started.elapsed();
                    return Ok(Some(server));
                }
                Err(e) if attempt < START_ATTEMPTS && e.contains("Address already in use") => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn start_once(dnsmasq: &Path, extra: &[String]) -> Result<DnsServer, String> {
        let dir = tempfile::Builder::new()
            .prefix("smtpscope-dns-")
            .tempdir()
            .map_err(|e| format!("creating the DNS server temp dir: {e}"))?;
        let conf = dir.path().join("dnsmasq.conf");
        fs::write(&conf, config(extra)?).map_err(|e| format!("writing {}: {e}", conf.display()))?;
        let port = free_udp_tcp_port()?;
        let child = spawn_dnsmasq(dnsmasq, dir.path(), port)?;
        // Right after the spawn, so that a test process dying now leaves nothing behind.
        let watchdog = match spawn_watchdog(dir.path(), child.id()) {
            Ok(watchdog) => watchdog,
            Err(e) => {
                let mut child = child;
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        let mut server = DnsServer {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            startup_time: Duration::ZERO,
            child,
            watchdog: Some(watchdog),
            dir,
        };
        // On error, dropping `server` stops dnsmasq and removes the directory.
        server.wait_until_ready()?;
        Ok(server)
    }

    /// Waits until dnsmasq answers a TXT query over UDP, or it exits.
    fn wait_until_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let probe = "_dmarc.good.example";
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .map_err(|e| format!("waiting for dnsmasq: {e}"))?
            {
                return Err(format!(
                    "dnsmasq exited during start-up ({status}):\n{}\n--- log ---\n{}",
                    self.stderr(),
                    self.log()
                ));
            }
            let last = match query_udp(self.addr, probe, QType::Txt, Duration::from_millis(200)) {
                Ok(answer) if answer.rcode == Rcode::NoError && answer.txt().len() == 1 => {
                    return Ok(());
                }
                Ok(answer) => format!("unexpected answer to the TXT {probe} probe: {answer:?}"),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "dnsmasq on {} did not answer within {READY_TIMEOUT:?}: {last}\n--- stderr ---\n{}\n--- log ---\n{}",
                    self.addr,
                    self.stderr(),
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }

    /// Asks the server (UDP, then TCP if the answer was truncated).
    pub fn query(&self, name: &str, qtype: QType) -> Result<Answer, String> {
        query(self.addr, name, qtype)
    }

    /// The server's temporary directory (config, log, pid file).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The generated dnsmasq.conf (the records; the options are on the command line).
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("dnsmasq.conf")
    }

    /// dnsmasq's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// dnsmasq's log: start-up lines, then one or two lines per query (`--log-queries`).
    pub fn log(&self) -> String {
        let path = self.dir.path().join("dnsmasq.log");
        fs::read_to_string(&path)
            .unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()))
    }

    /// The last `lines` lines of [`DnsServer::log`].
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn stderr(&self) -> String {
        fs::read_to_string(self.dir.path().join("dnsmasq.stderr")).unwrap_or_default()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop();
        // `dir` (a TempDir) is removed after this.
    }
}

/// dnsmasq.conf: one line per record of [`RECORDS`].
fn config(extra: &[String]) -> Result<String, String> {
    let mut conf = String::from(
        "# Generated by smtpscope's test fixture (tests/common/dns_server.rs).\n\
         # Server options are on the command line; no upstream servers.\n",
    );
    for record in RECORDS {
        match record {
            Record::Mx(name, pref, exchange) => {
                let _ = writeln!(conf, "mx-host={name},{exchange},{pref}");
            }
            Record::A(name, ip) => {
                let _ = writeln!(conf, "host-record={name},{ip}");
            }
            Record::Txt(name, text) => {
                if !text.is_ascii() || text.contains(['"', '\\', '\n']) {
                    return Err(format!("TXT {name}: cannot quote {text:?} for dnsmasq"));
                }
                // dnsmasq would split long strings itself; doing it here makes the
                // character-strings explicit.
                let strings: Vec<String> = text
                    .as_bytes()
                    .chunks(255)
                    .map(|chunk| format!("\"{}\"", String::from_utf8_lossy(chunk)))
                    .collect();
                let _ = writeln!(conf, "txt-record={name},{}", strings.join(","));
            }
        }
    }
    for line in extra {
        let _ = writeln!(conf, "{line}");
    }
    Ok(conf)
}

fn spawn_dnsmasq(dnsmasq: &Path, dir: &Path, port: u16) -> Result<Child, String> {
    let stderr_path = dir.join("dnsmasq.stderr");
    let stderr = fs::File::create(&stderr_path)
        .map_err(|e| format!("creating {}: {e}", stderr_path.display()))?;
    Command::new(dnsmasq)
        // Stay a child process; log to the file below, not to stderr.
        .arg("--keep-in-foreground")
        .arg(format!(
            "--conf-file={}",
            dir.join("dnsmasq.conf").display()
        ))
        .arg(format!("--port={port}"))
        .args(["--listen-address=127.0.0.1", "--bind-interfaces"])
        // No upstream servers: no /etc/resolv.conf, no polling of it, no server=.
        .args(["--no-resolv", "--no-poll", "--no-hosts"])
        // Unknown names under .example: NXDOMAIN instead of REFUSED.
        .arg("--local=/example/")
        .arg(format!(
            "--log-facility={}",
            dir.join("dnsmasq.log").display()
        ))
        .arg("--log-queries")
        .arg(format!("--pid-file={}", dir.join("dnsmasq.pid").display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("spawning {}: {e}", dnsmasq.display()))
}

/// A detached shell that kills dnsmasq and removes its directory once the test
/// process is gone (statics are never dropped). It exits by itself when the directory
/// disappears (normal drop). Own process group: a Ctrl-C to the test run does not
/// kill it before it has cleaned up.
fn spawn_watchdog(dir: &Path, dnsmasq_pid: u32) -> Result<Child, String> {
    const SCRIPT: &str = r#"
pid=$1 dir=$2 child=$3
while kill -0 "$pid" 2>/dev/null && [ -d "$dir" ]; do sleep 0.5; done
if [ -d "$dir" ]; then
    if [ "$(cat "/proc/$child/comm" 2>/dev/null)" = dnsmasq ]; then kill "$child"; fi
    rm -rf "$dir"
fi
"#;
    Command::new("/bin/sh")
        .arg("-c")
        .arg(SCRIPT)
        .arg("smtpscope-dns-watchdog")
        .arg(std::process::id().to_string())
        .arg(dir)
        .arg(dnsmasq_pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("spawning the DNS server watchdog: {e}"))
}

/// A port free for both UDP and TCP on 127.0.0.1 (at the time of asking).
fn free_udp_tcp_port() -> Result<u16, String> {
    let mut last_err = String::new();
    for _ in 0..50 {
        let tcp = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| format!("binding TCP 127.0.0.1:0 to find a free port: {e}"))?;
        let port = tcp
            .local_addr()
            .map_err(|e| format!("local_addr of probe listener: {e}"))?
            .port();
        match UdpSocket::bind(("127.0.0.1", port)) {
            Ok(_udp) => return Ok(port),
            Err(e) => last_err = format!("UDP 127.0.0.1:{port}: {e}"),
        }
    }
    Err(format!(
        "no port free for both UDP and TCP on 127.0.0.1: {last_err}"
    ))
}

// ---------------------------------------------------------------------------------
// A minimal DNS client (RFC 1035), enough to check the fixture's answers.

/// Query types understood by [`query`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QType {
    A,
    Aaaa,
    Mx,
    Txt,
}

impl QType {
    pub fn code(self) -> u16 {
        match self {
            QType::A => 1,
            QType::Mx => 15,
            QType::Txt => 16,
            QType::Aaaa => 28,
        }
    }
}

/// The response code of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    NoError,
    FormErr,
    ServFail,
    NxDomain,
    NotImp,
    Refused,
    Other(u8),
}

impl Rcode {
    fn from_code(code: u8) -> Rcode {
        match code {
            0 => Rcode::NoError,
            1 => Rcode::FormErr,
            2 => Rcode::ServFail,
            3 => Rcode::NxDomain,
            4 => Rcode::NotImp,
            5 => Rcode::Refused,
            other => Rcode::Other(other),
        }
    }
}

/// The data of one answer record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    /// `exchange` without the trailing dot; the root (null MX) is `"."`.
    Mx {
        preference: u16,
        exchange: String,
    },
    /// The character-strings, as sent.
    Txt(Vec<Vec<u8>>),
    Other {
        rtype: u16,
        data: Vec<u8>,
    },
}

/// One record of the answer section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rr {
    /// Owner name without the trailing dot.
    pub name: String,
    pub ttl: u32,
    pub data: RData,
}

/// A parsed response (answer section only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub rcode: Rcode,
    /// The `aa` flag.
    pub authoritative: bool,
    /// The `tc` flag.
    pub truncated: bool,
    pub records: Vec<Rr>,
}

impl Answer {
    /// Each TXT record's character-strings concatenated (lossy UTF-8), sorted.
    pub fn txt(&self) -> Vec<String> {
        let mut texts: Vec<String> = self
            .records
            .iter()
            .filter_map(|rr| match &rr.data {
                RData::Txt(strings) => {
                    Some(String::from_utf8_lossy(&strings.concat()).into_owned())
                }
                _ => None,
            })
            .collect();
        texts.sort();
        texts
    }

    /// The (preference, exchange) pairs of the MX records, sorted.
    pub fn mx(&self) -> Vec<(u16, String)> {
        let mut mx: Vec<(u16, String)> = self
            .records
            .iter()
            .filter_map(|rr| match &rr.data {
                RData::Mx {
                    preference,
                    exchange,
                } => Some((*preference, exchange.clone())),
                _ => None,
            })
            .collect();
        mx.sort();
        mx
    }

    /// The addresses of the A records, sorted.
    pub fn a(&self) -> Vec<Ipv4Addr> {
        let mut a: Vec<Ipv4Addr> = self
            .records
            .iter()
            .filter_map(|rr| match rr.data {
                RData::A(ip) => Some(ip),
                _ => None,
            })
            .collect();
        a.sort();
        a
    }

    /// NOERROR without records: the name exists but has no record of the type.
    pub fn is_nodata(&self) -> bool {
        self.rcode == Rcode::NoError && self.records.is_empty()
    }
}

/// Asks `server` over UDP, then over TCP if the answer was truncated.
pub fn query(server: SocketAddr, name: &str, qtype: QType) -> Result<Answer, String> {
    let answer = query_udp(server, name, qtype, QUERY_TIMEOUT)?;
    if answer.truncated {
        query_tcp(server, name, qtype, QUERY_TIMEOUT)
    } else {
        Ok(answer)
    }
}

fn next_id() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    static SEED: OnceLock<u16> = OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        (nanos ^ std::process::id()) as u16
    });
    seed.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed))
}

/// One query over UDP (with EDNS0, 4096-byte buffer); answers with another id are
/// ignored.
pub fn query_udp(
    server: SocketAddr,
    name: &str,
    qtype: QType,
    timeout: Duration,
) -> Result<Answer, String> {
    let id = next_id();
    let message = encode_query(id, name, qtype)?;
    let socket =
        UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("binding a UDP socket: {e}"))?;
    socket
        .connect(server)
        .map_err(|e| format!("UDP connect {server}: {e}"))?;
    socket
        .send(&message)
        .map_err(|e| format!("UDP send to {server}: {e}"))?;
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no UDP answer from {server} within {timeout:?}"));
        }
        socket
            .set_read_timeout(Some(left))
            .map_err(|e| format!("set_read_timeout: {e}"))?;
        let n = match socket.recv(&mut buf) {
            Ok(n) => n,
            Err(e) => return Err(format!("UDP answer from {server}: {e}")),
        };
        let response = buf.get(..n).unwrap_or_default();
        if response.get(..2) == Some(&id.to_be_bytes()[..]) {
            return parse_response(response);
        }
    }
}

/// One query over TCP (two-byte length prefix, RFC 1035 section 4.2.2).
pub fn query_tcp(
    server: SocketAddr,
    name: &str,
    qtype: QType,
    timeout: Duration,
) -> Result<Answer, String> {
    let id = next_id();
    let message = encode_query(id, name, qtype)?;
    let mut stream = TcpStream::connect_timeout(&server, timeout)
        .map_err(|e| format!("TCP connect {server}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| format!("set_read_timeout: {e}"))?;
    let len = u16::try_from(message.len()).map_err(|_| "query too long".to_owned())?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(&message);
    stream
        .write_all(&framed)
        .map_err(|e| format!("TCP send to {server}: {e}"))?;
    let mut len = [0u8; 2];
    stream
        .read_exact(&mut len)
        .map_err(|e| format!("TCP answer length from {server}: {e}"))?;
    let mut response = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream
        .read_exact(&mut response)
        .map_err(|e| format!("TCP answer from {server}: {e}"))?;
    if response.get(..2) != Some(&id.to_be_bytes()[..]) {
        return Err(format!("TCP answer from {server} has the wrong id"));
    }
    parse_response(&response)
}

fn encode_query(id: u16, name: &str, qtype: QType) -> Result<Vec<u8>, String> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&0x0100u16.to_be_bytes()); // RD, as stub resolvers send
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 1]); // 1 question, 1 additional (OPT)
    let name = name.trim_end_matches('.');
    if !name.is_empty() {
        for label in name.split('.') {
            let len = u8::try_from(label.len())
                .ok()
                .filter(|l| (1..=63).contains(l))
                .ok_or_else(|| format!("bad label {label:?} in {name:?}"))?;
            q.push(len);
            q.extend_from_slice(label.as_bytes());
        }
    }
    q.push(0);
    q.extend_from_slice(&qtype.code().to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes()); // IN
    // OPT: root owner, type 41, UDP payload 4096, no extended rcode/flags, no options.
    q.extend_from_slice(&[0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 0]);
    Ok(q)
}

struct Reader<'a> {
    msg: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn bytes(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.pos.checked_add(n).ok_or("length overflow")?;
        let slice = self
            .msg
            .get(self.pos..end)
            .ok_or_else(|| format!("response truncated at byte {}", self.pos))?;
        self.pos = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.bytes(1)?.first().copied().unwrap_or_default())
    }

    fn u16(&mut self) -> Result<u16, String> {
        let b = self.bytes(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A possibly compressed name; "." for the root.
    fn name(&mut self) -> Result<String, String> {
        let mut labels: Vec<String> = Vec::new();
        let mut pos = self.pos;
        let mut resume: Option<usize> = None;
        for _ in 0..128 {
            let len = *self.msg.get(pos).ok_or("name runs past the end")?;
            match len {
                0 => {
                    self.pos = resume.unwrap_or(pos + 1);
                    return Ok(if labels.is_empty() {
                        ".".to_owned()
                    } else {
                        labels.join(".")
                    });
                }
                l if l & 0xC0 == 0xC0 => {
                    let low = *self.msg.get(pos + 1).ok_or("pointer runs past the end")?;
                    resume.get_or_insert(pos + 2);
                    pos = (usize::from(l & 0x3F) << 8) | usize::from(low);
                }
                l if l & 0xC0 == 0 => {
                    let label = self
                        .msg
                        .get(pos + 1..pos + 1 + usize::from(l))
                        .ok_or("label runs past the end")?;
                    labels.push(String::from_utf8_lossy(label).into_owned());
                    pos += 1 + usize::from(l);
                }
                l => return Err(format!("unsupported label type {l:#x}")),
            }
        }
        Err("name compression loop".into())
    }
}

fn parse_response(msg: &[u8]) -> Result<Answer, String> {
    let mut r = Reader { msg, pos: 0 };
    let _id = r.u16()?;
    let flags = r.u16()?;
    if flags & 0x8000 == 0 {
        return Err("not a response (QR clear)".into());
    }
    let qdcount = r.u16()?;
    let ancount = r.u16()?;
    let _nscount = r.u16()?;
    let _arcount = r.u16()?;
    for _ in 0..qdcount {
        r.name()?;
        r.bytes(4)?;
    }
    let mut records = Vec::with_capacity(usize::from(ancount));
    for _ in 0..ancount {
        let name = r.name()?;
        let rtype = r.u16()?;
        let _class = r.u16()?;
        let ttl = r.u32()?;
        let rdlen = usize::from(r.u16()?);
        let start = r.pos;
        let data = match rtype {
            1 if rdlen == 4 => {
                let b = r.bytes(4)?;
                RData::A(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
            }
            28 if rdlen == 16 => {
                let b: [u8; 16] = r.bytes(16)?.try_into().map_err(|_| "bad AAAA".to_owned())?;
                RData::Aaaa(Ipv6Addr::from(b))
            }
            15 => RData::Mx {
                preference: r.u16()?,
                exchange: r.name()?,
            },
            16 => {
                let mut strings = Vec::new();
                while r.pos < start + rdlen {
                    let len = usize::from(r.u8()?);
                    strings.push(r.bytes(len)?.to_vec());
                }
                RData::Txt(strings)
            }
            _ => RData::Other {
                rtype,
                data: r.bytes(rdlen)?.to_vec(),
            },
        };
        if r.pos != start + rdlen {
            return Err(format!(
                "record {name} type {rtype}: RDATA length {rdlen}, parsed {}",
                r.pos - start
            ));
        }
        records.push(Rr { name, ttl, data });
    }
    Ok(Answer {
        rcode: Rcode::from_code((flags & 0x000F) as u8),
        authoritative: flags & 0x0400 != 0,
        truncated: flags & 0x0200 != 0,
        records,
    })
}
