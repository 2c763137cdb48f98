//! A private, throw-away Postfix instance for integration tests.
//!
//! Everything (config, queue, data, maildirs, keys, log) lives in one temporary
//! directory; listeners are bound on 127.0.0.1 only, on free ports picked at start.
//! No transport can send mail off the machine: "relayed" mail lands in a sink
//! Maildir (see [`Postfix::relayed_maildir`]).
//!
//! Needs root and the Debian packages `postfix`, `sasl2-bin` and `libsasl2-modules`.
//! Use [`shared`] from tests; it skips (or fails on CI) when Postfix is missing.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The virtual mailbox domain served by the instance.
pub const DOMAIN: &str = "lab.example";
/// `myhostname`; appears in the banner and the EHLO reply.
pub const HOSTNAME: &str = "mail.lab.example";
/// The only external domain the restricted user may relay to.
pub const PARTNER_DOMAIN: &str = "partner.example";
/// Local mailboxes of [`DOMAIN`].
pub const MAILBOXES: [&str; 3] = ["postmaster", "alice", "bob"];

const USER: &str = "alice";
const PASSWORD: &str = "Corr3ct-Horse-Battery";
const RESTRICTED_USER: &str = "bob";
const RESTRICTED_PASSWORD: &str = "Partner-0nly-B0b";

const START_ATTEMPTS: usize = 3;
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A running private Postfix instance. Stopped (and its directory removed) on drop;
/// a watchdog process also stops it within about a second after the test process exits.
///
/// Six smtpd listeners on 127.0.0.1, all with the same certificate and SASL users:
///
/// | port              | TLS        | relay policy                      | tarpit             |
/// |-------------------|------------|-----------------------------------|--------------------|
/// | `starttls_port`   | STARTTLS   | correct (AUTH required to relay)  | Postfix default    |
/// | `implicit_port`   | implicit   | correct                           | Postfix default    |
/// | `relaxed_port`    | STARTTLS   | correct                           | none               |
/// | `open_relay_port` | STARTTLS   | **open relay** (trusts every IP)  | none               |
/// | `proxy_port`      | STARTTLS   | trusts 192.0.2.0/24, from a PROXY header | none        |
/// | `xclient_port`    | STARTTLS   | trusts 192.0.2.0/24, XCLIENT from loopback | none      |
///
/// "Postfix default" tarpit: `smtpd_error_sleep_time = 1s`, `smtpd_soft_error_limit = 10`,
/// `smtpd_hard_error_limit = 20`: once a session has made more than 10 errors (without
/// delivering mail) every reply, 250s included, is delayed 1 s; the command after the
/// 20th error gets `421 4.7.0 mail.lab.example Error: too many errors` and the server
/// disconnects (measured: errors 1-10 immediate, 11-20 and the 421 one second each).
/// (The hard limit is really `${stress?{1}:{20}}`: 1 while all smtpd processes are busy,
/// which the tests never get near.)
/// "None": `smtpd_error_sleep_time = 0`, soft/hard error and junk command limits 1000.
///
/// On every port AUTH is offered only after TLS (`smtpd_tls_auth_only = yes`); an `AUTH`
/// before STARTTLS gets `503 5.5.1 Error: authentication not enabled`.
pub struct Postfix {
    /// smtpd with STARTTLS offered (`smtpd_tls_security_level = may`), AUTH only after
    /// TLS. Correct relay policy. Keeps Postfix's default tarpit (`smtpd_error_sleep_time
    /// = 1s` per reply after 10 errors, disconnect after 20), like a real server.
    pub starttls_port: u16,
    /// Same policy and tarpit with `smtpd_tls_wrappermode = yes` (implicit TLS, "smtps").
    pub implicit_port: u16,
    /// Like `starttls_port` but without the tarpit: error sleep 0, error and junk limits 1000.
    pub relaxed_port: u16,
    /// The classic open-relay misconfiguration, for tests that must see an open relay
    /// fail: `mynetworks = 0.0.0.0/0` with `permit_mynetworks` first in the relay,
    /// recipient and sender restrictions, so any client may relay unauthenticated
    /// (`MAIL FROM:<x@outside.example.net>` + `RCPT TO:<y@elsewhere.example.org>` gets
    /// `250 2.1.5 Ok`) and use any sender address. STARTTLS offered, AUTH after TLS,
    /// no tarpit (as `relaxed_port`). Relayed mail still lands only in
    /// [`Postfix::relayed_maildir`].
    pub open_relay_port: u16,
    /// Behind a load balancer (`smtpd_upstream_proxy_protocol = haproxy`): every connection
    /// must start with a PROXY v1 or v2 header, whose source address is the client's as far
    /// as logging and policy go. `mynetworks = 192.0.2.0/24` (TEST-NET-1, only ever named in
    /// headers, never connected to) with `permit_mynetworks` first, so a header naming
    /// 192.0.2.x may relay and the loopback address alone may not. No tarpit.
    pub proxy_port: u16,
    /// Postfix XCLIENT for loopback clients (`smtpd_authorized_xclient_hosts = 127.0.0.0/8`),
    /// with the same `mynetworks = 192.0.2.0/24` relay rule as `proxy_port`: relay is denied
    /// to 127.0.0.1 and allowed after `XCLIENT ADDR=192.0.2.x`. No tarpit.
    pub xclient_port: u16,
    /// PEM of the CA that signed the server certificate (SANs: localhost, 127.0.0.1,
    /// mail.lab.example). The CA key is never written anywhere.
    pub ca_pem_path: PathBuf,
    /// "lab.example", the virtual mailbox domain.
    pub domain: String,
    /// "mail.lab.example", `myhostname`.
    pub hostname: String,
    /// "alice": may relay anywhere once authenticated (also logs in as alice@lab.example).
    pub user: String,
    pub password: String,
    /// "bob": authenticated, may relay only to `@partner.example`; other external
    /// recipients get `554 5.7.1 <rcpt>: Recipient address rejected: ...`.
    pub restricted_user: String,
    pub restricted_password: String,
    /// "partner.example".
    pub partner_domain: String,
    /// Time `start()` took, for reporting.
    pub startup_time: Duration,
    /// The ports of the extra listeners given to [`Postfix::start_with`], in that order.
    pub extra_ports: Vec<u16>,
    extra: Vec<Vec<String>>,
    postfix_bin: PathBuf,
    postconf_bin: PathBuf,
    config_dir: PathBuf,
    watchdog: Option<Child>,
    claimed: Mutex<HashSet<PathBuf>>,
    // Declared last so it is removed after the instance has been stopped.
    dir: tempfile::TempDir,
}

/// Paths of the tools the fixture runs.
struct Tools {
    postfix: PathBuf,
    postmap: PathBuf,
    postconf: PathBuf,
    saslpasswd2: PathBuf,
}

/// Why Postfix cannot be started here, or `None` when it can.
pub fn missing_requirements() -> Option<String> {
    find_tools().err()
}

fn find_tools() -> Result<Tools, String> {
    let postfix = find_program("postfix")
        .ok_or("postfix not installed (apt-get install postfix sasl2-bin)")?;
    let postmap = find_program("postmap")
        .ok_or("postmap not found although postfix is (broken postfix install?)")?;
    let postconf = find_program("postconf")
        .ok_or("postconf not found although postfix is (broken postfix install?)")?;
    let saslpasswd2 = find_program("saslpasswd2")
        .ok_or("saslpasswd2 not installed (apt-get install sasl2-bin)")?;
    if !sasl_plugin_installed("libplain.so") {
        return Err(
            "Cyrus SASL PLAIN plugin not installed (apt-get install libsasl2-modules)".into(),
        );
    }
    if !running_as_root() {
        return Err("the Postfix fixture must run as root (postfix start needs it)".into());
    }
    Ok(Tools {
        postfix,
        postmap,
        postconf,
        saslpasswd2,
    })
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| {
            fs::metadata(candidate)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

fn sasl_plugin_installed(file: &str) -> bool {
    // Debian: /usr/lib/<multiarch>/sasl2/; other layouts: /usr/lib{,64}/sasl2/.
    let mut dirs = vec![
        PathBuf::from("/usr/lib/sasl2"),
        PathBuf::from("/usr/lib64/sasl2"),
    ];
    if let Ok(entries) = fs::read_dir("/usr/lib") {
        dirs.extend(entries.flatten().map(|e| e.path().join("sasl2")));
    }
    dirs.iter().any(|d| d.join(file).exists())
}

fn running_as_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2)) // effective uid
                .is_some_and(|uid| uid == "0")
        })
        .unwrap_or(false)
}

/// The per-process shared instance, started on first use.
///
/// Returns `None` (after printing a SKIPPED line) when Postfix cannot run here,
/// except under `CI=true`, where that panics. Panics if Postfix is present but
/// fails to start.
pub fn shared(test_name: &str) -> Option<&'static Postfix> {
    static SHARED: OnceLock<Result<Option<Postfix>, String>> = OnceLock::new();
    match SHARED.get_or_init(Postfix::start) {
        Ok(Some(postfix)) => Some(postfix),
        Ok(None) => {
            let why = missing_requirements().unwrap_or_else(|| {
                "postfix not installed (apt-get install postfix sasl2-bin)".into()
            });
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "CI requires Postfix: install postfix sasl2-bin libsasl2-modules and run as root; here: {why}"
                );
            }
            super::skips::skipped(test_name, &why);
            None
        }
        Err(e) => panic!("{test_name}: starting the shared Postfix instance failed: {e}"),
    }
}

impl Postfix {
    /// Starts a fresh private instance. `Ok(None)` when Postfix (or sasl2-bin, the
    /// SASL plugins, root) is not available; see [`missing_requirements`] for why.
    pub fn start() -> Result<Option<Postfix>, String> {
        Self::start_with(Vec::new())
    }

    /// As [`Postfix::start`], plus one more STARTTLS listener (no tarpit) per entry of
    /// `extra`, each with these `-o name=value` overrides (e.g. its own
    /// `smtpd_tls_cert_file`). Their ports are in [`Postfix::extra_ports`].
    pub fn start_with(extra: Vec<Vec<String>>) -> Result<Option<Postfix>, String> {
        let started = Instant::now();
        let tools = match find_tools() {
            Ok(tools) => tools,
            Err(_) => return Ok(None),
        };
        let dir = tempfile::Builder::new()
            .prefix("smtpscope-postfix-")
            .tempdir_in(temp_base())
            .map_err(|e| format!("creating the Postfix temp dir: {e}"))?;
        let root = dir.path().to_path_buf();
        let root_str = root.to_str().ok_or("temp dir path is not UTF-8")?;
        if root_str.contains(|c: char| c.is_whitespace() || c == ',' || c == '$') {
            return Err(format!("temp dir path {root_str:?} is unusable in main.cf"));
        }
        // Postfix daemons (users postfix and mail) must traverse it; nobody may list it.
        set_mode(&root, 0o711)?;

        let ids = Ids::lookup()?;
        let config_dir = root.join("conf");
        let ca_pem_path = root.join("ca.pem");
        write_layout(&root, &config_dir, &ca_pem_path, &ids)?;
        write_main_cf(&root, &config_dir, &ids)?;
        run(
            Command::new(&tools.postmap)
                .arg("-c")
                .arg(&config_dir)
                .args(
                    ["vmailbox", "sasl_access", "sender_login"]
                        .map(|m| format!("hash:{}", config_dir.join(m).display())),
                ),
            "postmap",
        )?;
        let sasldb = config_dir.join("sasldb2");
        for (user, password) in [(USER, PASSWORD), (RESTRICTED_USER, RESTRICTED_PASSWORD)] {
            run_with_stdin(
                Command::new(&tools.saslpasswd2)
                    .args(["-p", "-c", "-f"])
                    .arg(&sasldb)
                    .args(["-u", DOMAIN, user]),
                password,
                "saslpasswd2",
            )?;
        }
        std::os::unix::fs::chown(&sasldb, Some(0), Some(ids.postfix_gid))
            .map_err(|e| format!("chown {}: {e}", sasldb.display()))?;
        set_mode(&sasldb, 0o640)?;

        // The watchdog is up before Postfix is, so a test process that dies during
        // start-up does not leave a running instance behind.
        let watchdog = spawn_watchdog(&tools.postfix, &root)?;
        let mut postfix = Postfix {
            starttls_port: 0,
            implicit_port: 0,
            relaxed_port: 0,
            open_relay_port: 0,
            proxy_port: 0,
            xclient_port: 0,
            ca_pem_path,
            domain: DOMAIN.into(),
            hostname: HOSTNAME.into(),
            user: USER.into(),
            password: PASSWORD.into(),
            restricted_user: RESTRICTED_USER.into(),
            restricted_password: RESTRICTED_PASSWORD.into(),
            partner_domain: PARTNER_DOMAIN.into(),
            startup_time: Duration::ZERO,
            extra_ports: Vec::new(),
            extra,
            postfix_bin: tools.postfix,
            postconf_bin: tools.postconf,
            config_dir,
            watchdog: Some(watchdog),
            claimed: Mutex::new(HashSet::new()),
            dir,
        };

        // Free ports are picked by binding port 0 and released before Postfix binds
        // them, so another process may take one meanwhile: retry with new ports.
        let mut attempt = 0;
        loop {
            attempt += 1;
            // All at once, so that none repeats.
            let all = free_port_list(6 + postfix.extra.len())?;
            let ports = [all[0], all[1], all[2], all[3], all[4], all[5]];
            let [starttls, implicit, relaxed, open_relay, proxy, xclient] = ports;
            postfix.starttls_port = starttls;
            postfix.implicit_port = implicit;
            postfix.relaxed_port = relaxed;
            postfix.open_relay_port = open_relay;
            postfix.proxy_port = proxy;
            postfix.xclient_port = xclient;
            postfix.extra_ports = all[6..].to_vec();
            let extra: Vec<(u16, &[String])> = postfix
                .extra_ports
                .iter()
                .copied()
                .zip(postfix.extra.iter().map(Vec::as_slice))
                .collect();
            write_master_cf(&postfix.config_dir, ports, &extra)?;
            match postfix.run_postfix_start() {
                Ok(()) => break,
                Err(e) if attempt < START_ATTEMPTS && e.contains("Address already in use") => {
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        postfix.wait_until_ready()?;
        postfix.startup_time = started.elapsed();
        Ok(Some(postfix))
    }

    fn run_postfix_start(&self) -> Result<(), String> {
        let out_path = self.dir.path().join("postfix-start.out");
        let out = fs::File::create(&out_path)
            .map_err(|e| format!("creating {}: {e}", out_path.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("dup of start output file: {e}"))?;
        // Output to a file, not a pipe: nothing Postfix leaves running may hold our pipe.
        let status = Command::new(&self.postfix_bin)
            .arg("-c")
            .arg(&self.config_dir)
            .arg("start")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .map_err(|e| format!("running postfix start: {e}"))?;
        if status.success() {
            return Ok(());
        }
        let output = fs::read_to_string(&out_path).unwrap_or_default();
        Err(format!(
            "`postfix -c {} start` failed ({status}):\n{output}\n--- maillog tail ---\n{}",
            self.config_dir.display(),
            self.log_tail(40)
        ))
    }

    /// Waits until all listeners accept and smtpd answers with a 220 banner.
    fn wait_until_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        for port in [
            self.starttls_port,
            self.implicit_port,
            self.relaxed_port,
            self.open_relay_port,
            // Accepting is enough: it waits for a PROXY header before its banner.
            self.proxy_port,
            self.xclient_port,
        ]
        .into_iter()
        .chain(self.extra_ports.iter().copied())
        {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            loop {
                match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                    Ok(stream) => {
                        if port == self.starttls_port {
                            self.check_banner(stream, deadline)?;
                        }
                        break;
                    }
                    Err(e) if Instant::now() >= deadline => {
                        return Err(format!(
                            "Postfix did not accept connections on {addr}: {e}\n--- maillog tail ---\n{}",
                            self.log_tail(40)
                        ));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
        Ok(())
    }

    fn check_banner(&self, stream: TcpStream, deadline: Instant) -> Result<(), String> {
        let timeout = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(1));
        stream
            .set_read_timeout(Some(timeout))
            .map_err(|e| format!("set_read_timeout: {e}"))?;
        let mut writer = stream
            .try_clone()
            .map_err(|e| format!("clone TcpStream: {e}"))?;
        let mut banner = String::new();
        let read = BufReader::new(stream).read_line(&mut banner);
        let _ = writer.write_all(b"QUIT\r\n");
        match read {
            Ok(_) if banner.starts_with("220 ") => Ok(()),
            Ok(_) => Err(format!(
                "unexpected banner from Postfix smtpd: {banner:?}\n--- maillog tail ---\n{}",
                self.log_tail(40)
            )),
            Err(e) => Err(format!(
                "reading the Postfix banner: {e}\n--- maillog tail ---\n{}",
                self.log_tail(40)
            )),
        }
    }

    /// The instance's temporary root directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The instance's config directory (for `postconf -c`, `postqueue -c`, ...).
    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    /// Runs `postconf -c <config dir> ARGS` and returns its standard output, e.g.
    /// `["-xh", "default_transport"]` (value with `$names` expanded), `["-M"]` (master.cf
    /// services), `["-P"]` (their `-o` overrides).
    pub fn postconf(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(&self.postconf_bin)
            .arg("-c")
            .arg(&self.config_dir)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running postconf: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "postconf {args:?} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// The UNIX domain socket smtpd listens on (same policy as `relaxed_port`, no tarpit).
    pub fn unix_socket(&self) -> PathBuf {
        self.dir.path().join("queue").join("public").join("smtpd")
    }

    /// Maildir of a local mailbox of [`DOMAIN`] such as "postmaster", "alice", "bob".
    pub fn maildir(&self, local_part: &str) -> PathBuf {
        self.dir.path().join("mail").join(DOMAIN).join(local_part)
    }

    /// Maildir that receives every message Postfix "relays" (all non-local recipients).
    pub fn relayed_maildir(&self) -> PathBuf {
        self.dir.path().join("mail").join("relayed")
    }

    /// Waits (polling) for a message in the mailbox's `new/` that no earlier `wait_for_*`
    /// call on this instance returned, and returns its bytes. Concurrent tests that
    /// share a mailbox should use [`Postfix::wait_for_message_containing`].
    pub fn wait_for_message(&self, local_part: &str, timeout: Duration) -> Result<Vec<u8>, String> {
        self.wait_in(&self.checked_maildir(local_part)?, None, timeout)
    }

    /// Like [`Postfix::wait_for_message`], but only a message containing `needle`
    /// (e.g. a unique Subject or Message-ID) counts.
    pub fn wait_for_message_containing(
        &self,
        local_part: &str,
        needle: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, String> {
        self.wait_in(&self.checked_maildir(local_part)?, Some(needle), timeout)
    }

    /// Like [`Postfix::wait_for_message`] for the relayed-mail sink.
    pub fn wait_for_relayed_message(&self, timeout: Duration) -> Result<Vec<u8>, String> {
        self.wait_in(&self.relayed_maildir(), None, timeout)
    }

    /// Like [`Postfix::wait_for_message_containing`] for the relayed-mail sink.
    pub fn wait_for_relayed_message_containing(
        &self,
        needle: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, String> {
        self.wait_in(&self.relayed_maildir(), Some(needle), timeout)
    }

    fn checked_maildir(&self, local_part: &str) -> Result<PathBuf, String> {
        if local_part.is_empty() || local_part.contains(['/', '\0']) || local_part.starts_with('.')
        {
            return Err(format!("invalid local part {local_part:?}"));
        }
        Ok(self.maildir(local_part))
    }

    fn wait_in(
        &self,
        maildir: &Path,
        needle: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Vec<u8>, String> {
        let new_dir = maildir.join("new");
        let deadline = Instant::now() + timeout;
        loop {
            let mut files: Vec<(std::time::SystemTime, PathBuf)> = match fs::read_dir(&new_dir) {
                Ok(entries) => entries
                    .flatten()
                    .map(|e| {
                        let modified = e
                            .metadata()
                            .and_then(|m| m.modified())
                            .unwrap_or(std::time::UNIX_EPOCH);
                        (modified, e.path())
                    })
                    .collect(),
                Err(_) => Vec::new(),
            };
            files.sort();
            {
                let mut claimed = self.claimed.lock().unwrap_or_else(|p| p.into_inner());
                for (_, path) in files {
                    if claimed.contains(&path) {
                        continue;
                    }
                    let Ok(bytes) = fs::read(&path) else { continue };
                    if needle.is_none_or(|n| contains(&bytes, n)) {
                        claimed.insert(path);
                        return Ok(bytes);
                    }
                }
            }
            if Instant::now() >= deadline {
                let what = match needle {
                    Some(n) => format!(" containing {:?}", String::from_utf8_lossy(n)),
                    None => String::new(),
                };
                return Err(format!(
                    "no new message{what} in {} within {timeout:?}\n--- maillog tail ---\n{}",
                    new_dir.display(),
                    self.log_tail(30)
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Where the instance's maillog_file is.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("maillog")
    }

    /// Contents of the instance's maillog_file.
    pub fn log(&self) -> String {
        let path = self.dir.path().join("maillog");
        fs::read_to_string(&path)
            .unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()))
    }

    /// The last `lines` lines of [`Postfix::log`].
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new(&self.postfix_bin)
            .arg("-c")
            .arg(&self.config_dir)
            .arg("stop")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        // `dir` (a TempDir) is removed after this.
    }
}

/// A detached shell that stops Postfix and removes its directory once the test
/// process is gone (statics are never dropped). It exits by itself when the
/// directory disappears (normal drop). Own process group: a Ctrl-C to the test
/// run does not kill it before it has cleaned up.
fn spawn_watchdog(postfix_bin: &Path, root: &Path) -> Result<Child, String> {
    const SCRIPT: &str = r#"
pid=$1 dir=$2 postfix=$3
while kill -0 "$pid" 2>/dev/null && [ -d "$dir" ]; do sleep 0.5; done
if [ -d "$dir" ]; then
    "$postfix" -c "$dir/conf" stop
    rm -rf "$dir"
fi
"#;
    Command::new("/bin/sh")
        .arg("-c")
        .arg(SCRIPT)
        .arg("smtpscope-postfix-watchdog")
        .arg(std::process::id().to_string())
        .arg(root)
        .arg(postfix_bin)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("spawning the Postfix watchdog: {e}"))
}

/// A directory under which the postfix and mail users can reach our files.
fn temp_base() -> PathBuf {
    let preferred = std::env::temp_dir();
    let traversable = preferred.ancestors().all(|p| {
        fs::metadata(p)
            .map(|m| m.permissions().mode() & 0o001 != 0)
            .unwrap_or(false)
    });
    if traversable {
        preferred
    } else {
        PathBuf::from("/tmp")
    }
}

fn free_port_list(n: usize) -> Result<Vec<u16>, String> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("binding 127.0.0.1:0 to find a free port: {e}"))?;
    listeners
        .iter()
        .map(|l| {
            l.local_addr()
                .map(|a| a.port())
                .map_err(|e| format!("local_addr of probe listener: {e}"))
        })
        .collect()
}

struct Ids {
    mail_uid: u32,
    mail_gid: u32,
    postfix_uid: u32,
    postfix_gid: u32,
}

impl Ids {
    fn lookup() -> Result<Ids, String> {
        let (mail_uid, mail_gid) = getent_passwd("mail")?;
        let (postfix_uid, _) = getent_passwd("postfix")?;
        let postfix_gid = getent_group("postfix")?;
        Ok(Ids {
            mail_uid,
            mail_gid,
            postfix_uid,
            postfix_gid,
        })
    }
}

fn getent(database: &str, name: &str) -> Result<Vec<String>, String> {
    let out = Command::new("getent")
        .args([database, name])
        .output()
        .map_err(|e| format!("running getent {database} {name}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "getent {database} {name}: no such entry ({})",
            out.status
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .trim()
        .split(':')
        .map(str::to_owned)
        .collect())
}

fn getent_passwd(user: &str) -> Result<(u32, u32), String> {
    let fields = getent("passwd", user)?;
    let num = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("malformed passwd entry for {user}: {fields:?}"))
    };
    Ok((num(2)?, num(3)?))
}

fn getent_group(group: &str) -> Result<u32, String> {
    let fields = getent("group", group)?;
    fields
        .get(2)
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| format!("malformed group entry for {group}: {fields:?}"))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {mode:o} {}: {e}", path.display()))
}

fn mkdir(path: &Path, mode: u32, owner: Option<(u32, u32)>) -> Result<(), String> {
    fs::create_dir_all(path).map_err(|e| format!("mkdir {}: {e}", path.display()))?;
    set_mode(path, mode)?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .map_err(|e| format!("chown {}: {e}", path.display()))?;
    }
    Ok(())
}

fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), String> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| format!("creating {}: {e}", path.display()))?;
    file.write_all(contents)
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    backdate(&file, path)?;
    // The mode given to open() is masked by the umask; make it exact.
    set_mode(path, mode)
}

/// Postfix re-reads a config file modified within the last second every 300 ms until
/// it "cools down" (dict_load_file), which cost ~1.5 s per command right after
/// writing main.cf. Pretend our files were written a minute ago.
fn backdate(file: &fs::File, path: &Path) -> Result<(), String> {
    let past = std::time::SystemTime::now()
        .checked_sub(Duration::from_secs(60))
        .ok_or("system clock before 1970 + 60 s")?;
    file.set_modified(past)
        .map_err(|e| format!("setting mtime of {}: {e}", path.display()))
}

/// Directories, certificates, lookup tables and the SASL config.
fn write_layout(root: &Path, conf: &Path, ca_pem_path: &Path, ids: &Ids) -> Result<(), String> {
    mkdir(conf, 0o755, None)?;
    mkdir(&conf.join("sasl"), 0o755, None)?;
    mkdir(&root.join("queue"), 0o755, Some((0, 0)))?;
    mkdir(
        &root.join("data"),
        0o700,
        Some((ids.postfix_uid, ids.postfix_gid)),
    )?;
    let mail_owner = Some((ids.mail_uid, ids.mail_gid));
    let mail = root.join("mail");
    mkdir(&mail, 0o755, mail_owner)?;
    mkdir(&mail.join(DOMAIN), 0o755, mail_owner)?;
    let maildirs = MAILBOXES
        .iter()
        .map(|lp| mail.join(DOMAIN).join(lp))
        .chain([mail.join("relayed")]);
    for maildir in maildirs {
        mkdir(&maildir, 0o755, mail_owner)?;
        for sub in ["tmp", "new", "cur"] {
            mkdir(&maildir.join(sub), 0o755, mail_owner)?;
        }
    }

    let (ca_pem, cert_pem, key_pem) = generate_certificates()?;
    write_file(ca_pem_path, ca_pem.as_bytes(), 0o644)?;
    write_file(&conf.join("cert.pem"), cert_pem.as_bytes(), 0o644)?;
    write_file(&conf.join("key.pem"), key_pem.as_bytes(), 0o600)?;

    let mut vmailbox = String::new();
    for lp in MAILBOXES {
        let _ = writeln!(vmailbox, "{lp}@{DOMAIN} {DOMAIN}/{lp}/");
    }
    write_file(&conf.join("vmailbox"), vmailbox.as_bytes(), 0o644)?;
    // Cyrus reports the login with the realm appended (bob -> bob@lab.example);
    // both spellings are listed so the tables do not depend on that.
    let sasl_access =
        format!("{RESTRICTED_USER} partner_only\n{RESTRICTED_USER}@{DOMAIN} partner_only\n");
    write_file(&conf.join("sasl_access"), sasl_access.as_bytes(), 0o644)?;
    let mut sender_login = String::new();
    for user in [USER, RESTRICTED_USER] {
        let _ = writeln!(sender_login, "{user}@{DOMAIN} {user}, {user}@{DOMAIN}");
    }
    write_file(&conf.join("sender_login"), sender_login.as_bytes(), 0o644)?;
    let partner_re = PARTNER_DOMAIN.replace('.', "\\.");
    let domain_re = DOMAIN.replace('.', "\\.");
    let partner_only = format!(
        "/@{partner_re}$/ OK\n/@{domain_re}$/ DUNNO\n/./ REJECT {RESTRICTED_USER} may relay only to {PARTNER_DOMAIN}\n"
    );
    write_file(&conf.join("partner_only"), partner_only.as_bytes(), 0o644)?;

    // Debian's Postfix reads the Cyrus config from $config_directory/sasl/smtpd.conf.
    let sasl_conf = format!(
        "pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: {}\nmech_list: PLAIN LOGIN CRAM-MD5\n",
        conf.join("sasldb2").display()
    );
    write_file(
        &conf.join("sasl").join("smtpd.conf"),
        sasl_conf.as_bytes(),
        0o644,
    )
}

/// (CA cert PEM, server cert PEM, server key PEM). The CA key stays in memory.
fn generate_certificates() -> Result<(String, String, String), String> {
    let err = |what: &str| {
        let what = what.to_owned();
        move |e: rcgen::Error| format!("rcgen: {what}: {e}")
    };
    let ca_key = KeyPair::generate().map_err(err("CA key"))?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err("CA params"))?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "smtpscope test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    ca_params.not_after = rcgen::date_time_ymd(2100, 1, 1);
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .map_err(err("CA certificate"))?;
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().map_err(err("server key"))?;
    let mut params = CertificateParams::new(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        HOSTNAME.to_owned(),
    ])
    .map_err(err("server params"))?;
    params.distinguished_name.push(DnType::CommonName, HOSTNAME);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2100, 1, 1);
    let server_cert = params
        .signed_by(&server_key, &issuer)
        .map_err(err("server certificate"))?;
    Ok((ca_cert.pem(), server_cert.pem(), server_key.serialize_pem()))
}

fn write_main_cf(root_dir: &Path, conf_dir: &Path, ids: &Ids) -> Result<(), String> {
    let root = root_dir.display();
    let conf = conf_dir.display();
    let main_cf = format!(
        "\
# Generated by smtpscope's test fixture (tests/common/postfix.rs).
compatibility_level = 3.6
config_directory = {conf}
queue_directory = {root}/queue
data_directory = {root}/data
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
myhostname = {HOSTNAME}
mydomain = {DOMAIN}
myorigin = $mydomain
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
# Nobody is trusted by IP address: tests connect from 127.0.0.1.
mynetworks =
smtpd_peername_lookup = no
# Treat 127.0.0.1 like any remote client: no header rewriting, and no Date:, From:,
# Message-ID: added to mail that lacks them (the default permit_inet_interfaces
# would count loopback as local). Delivered mail is then exactly what was sent
# below Postfix's Return-Path, X-Original-To, Delivered-To and Received.
local_header_rewrite_clients =
alias_maps =
alias_database =
local_recipient_maps =
# No smtp/relay transport: nothing can leave the machine.
local_transport = error:local delivery is disabled
default_transport = sink
relay_transport = sink
virtual_mailbox_domains = {DOMAIN}
virtual_mailbox_base = {root}/mail
virtual_mailbox_maps = hash:{conf}/vmailbox
virtual_uid_maps = static:{mail_uid}
virtual_gid_maps = static:{mail_gid}
virtual_minimum_uid = {mail_uid}
smtpd_tls_cert_file = {conf}/cert.pem
smtpd_tls_key_file = {conf}/key.pem
smtpd_tls_security_level = may
# The secure configuration: Postfix 3.7's default (!SSLv2, !SSLv3) still takes TLS 1.0 and
# 1.1 on Debian 12, which the starttls scenario's version probe reports as WARN.
smtpd_tls_protocols = >=TLSv1.2
smtpd_tls_auth_only = yes
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
smtpd_sasl_local_domain = {DOMAIN}
smtpd_restriction_classes = partner_only
partner_only = check_recipient_access regexp:{conf}/partner_only
smtpd_relay_restrictions = check_sasl_access hash:{conf}/sasl_access, permit_sasl_authenticated, reject_unauth_destination
smtpd_sender_login_maps = hash:{conf}/sender_login
smtpd_sender_restrictions = reject_sender_login_mismatch
",
        mail_uid = ids.mail_uid,
        mail_gid = ids.mail_gid,
    );
    write_file(&conf_dir.join("main.cf"), main_cf.as_bytes(), 0o644)
}

/// `ports`: starttls, implicit, relaxed, open relay, proxy, xclient; `extra`: a test's own
/// listeners, each with its `-o` overrides.
fn write_master_cf(conf: &Path, ports: [u16; 6], extra: &[(u16, &[String])]) -> Result<(), String> {
    let [starttls, implicit, relaxed, open_relay, proxy, xclient] = ports;
    let mut extra_cf = String::new();
    for (port, overrides) in extra {
        let _ = writeln!(
            extra_cf,
            "127.0.0.1:{port} inet n - n - - smtpd\n  -o smtpd_error_sleep_time=0"
        );
        for o in overrides.iter() {
            let _ = writeln!(extra_cf, "  -o {o}");
        }
    }
    let master_cf = format!(
        "\
# service type private unpriv chroot wakeup maxproc command
# Postfix's default tarpit (smtpd_error_sleep_time 1s, soft/hard error limits 10/20).
127.0.0.1:{starttls} inet n - n - - smtpd
127.0.0.1:{implicit} inet n - n - - smtpd
  -o smtpd_tls_wrappermode=yes
# Same policy, no tarpit.
127.0.0.1:{relaxed} inet n - n - - smtpd
  -o smtpd_error_sleep_time=0
  -o smtpd_soft_error_limit=1000
  -o smtpd_hard_error_limit=1000
  -o smtpd_junk_command_limit=1000
# Open relay, the classic misconfiguration: every client is trusted by IP address.
# No tarpit.
127.0.0.1:{open_relay} inet n - n - - smtpd
  -o mynetworks=0.0.0.0/0
  -o smtpd_relay_restrictions=permit_mynetworks,permit_sasl_authenticated,reject_unauth_destination
  -o smtpd_recipient_restrictions=permit_mynetworks,permit_sasl_authenticated,reject_unauth_destination
  -o smtpd_sender_restrictions=permit_mynetworks,reject_sender_login_mismatch
  -o smtpd_error_sleep_time=0
  -o smtpd_soft_error_limit=1000
  -o smtpd_hard_error_limit=1000
  -o smtpd_junk_command_limit=1000
# Behind a load balancer: the client address comes from a PROXY header; 192.0.2.0/24
# (TEST-NET-1, only ever named in headers) is trusted to relay. No tarpit.
127.0.0.1:{proxy} inet n - n - - smtpd
  -o smtpd_upstream_proxy_protocol=haproxy
  -o mynetworks=192.0.2.0/24
  -o smtpd_relay_restrictions=permit_mynetworks,permit_sasl_authenticated,reject_unauth_destination
  -o smtpd_recipient_restrictions=permit_mynetworks,permit_sasl_authenticated,reject_unauth_destination
  -o smtpd_error_sleep_time=0
  -o smtpd_soft_error_limit=1000
  -o smtpd_hard_error_limit=1000
  -o smtpd_junk_command_limit=1000
# XCLIENT from loopback, and the same relay rule: policy as if from another client.
127.0.0.1:{xclient} inet n - n - - smtpd
  -o smtpd_authorized_xclient_hosts=127.0.0.0/8
  -o mynetworks=192.0.2.0/24
  -o smtpd_relay_restrictions=permit_mynetworks,permit_sasl_authenticated,reject_unauth_destination
  -o smtpd_recipient_restrictions=permit_mynetworks,permit_sasl_authenticated,reject_unauth_destination
  -o smtpd_error_sleep_time=0
  -o smtpd_soft_error_limit=1000
  -o smtpd_hard_error_limit=1000
  -o smtpd_junk_command_limit=1000
# smtpd on a UNIX domain socket ($queue_directory/public/smtpd), as a local content filter
# or a container's socket mount would offer it. Postfix takes such a client as localhost.
smtpd unix n - n - - smtpd
  -o smtpd_error_sleep_time=0
{extra_cf}pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
proxywrite unix - - n - 1 proxymap
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
virtual unix - n n - - virtual
# default_transport and relay_transport: keeps \"relayed\" mail in a local Maildir.
sink unix - n n - - virtual
  -o virtual_mailbox_maps=static:relayed/
"
    );
    let path = conf.join("master.cf");
    let mut file =
        fs::File::create(&path).map_err(|e| format!("creating {}: {e}", path.display()))?;
    file.write_all(master_cf.as_bytes())
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    backdate(&file, &path)
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn run_with_stdin(cmd: &mut Command, input: &str, what: &str) -> Result<(), String> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running {what}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| format!("writing to {what}: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("waiting for {what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}
