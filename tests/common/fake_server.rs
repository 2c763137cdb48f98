//! A scripted SMTP server for fault injection and security-invariant tests: each test says
//! exactly what the server sends and checks exactly what it received. Loopback only.
//!
//! It complements, never replaces, the real Postfix tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A CA and a server certificate signed by it, generated per test run; the private keys live
/// only in memory.
pub struct TestPki {
    pub ca_pem: String,
    pub ca_file: tempfile::NamedTempFile,
    pub cert_der: CertificateDer<'static>,
    pub key_der: Vec<u8>,
}

impl TestPki {
    /// `names` become the server certificate's SANs; `expired` sets its validity in the past.
    pub fn new(names: &[&str], expired: bool) -> TestPki {
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "smtpscope test CA");
        let ca_key = KeyPair::generate().expect("CA key");
        let ca_cert = ca.self_signed(&ca_key).expect("CA cert");
        let issuer = Issuer::new(ca, ca_key);

        let mut leaf =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("leaf params");
        leaf.distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("test"));
        if expired {
            leaf.not_before = rcgen::date_time_ymd(2001, 1, 1);
            leaf.not_after = rcgen::date_time_ymd(2002, 1, 1);
        }
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).expect("leaf cert");

        let ca_pem = ca_cert.pem();
        let mut ca_file = tempfile::NamedTempFile::new().expect("temp CA file");
        ca_file.write_all(ca_pem.as_bytes()).expect("write CA");
        TestPki {
            ca_pem,
            ca_file,
            cert_der: leaf_cert.der().clone(),
            key_der: leaf_key.serialize_der(),
        }
    }

    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("protocol versions")
                .with_no_client_auth()
                .with_single_cert(vec![self.cert_der.clone()], key)
                .expect("server cert"),
        )
    }

    /// A server that presents this certificate but signs the handshake with another key, as
    /// a server that does not hold the certificate's key would; `version` pins TLS 1.2 or 1.3.
    #[allow(dead_code)] // only some test binaries use it
    pub fn server_config_without_the_key(
        &self,
        version: &'static rustls::SupportedProtocolVersion,
    ) -> Arc<rustls::ServerConfig> {
        #[derive(Debug)]
        struct Always(Arc<rustls::sign::CertifiedKey>);
        impl rustls::server::ResolvesServerCert for Always {
            fn resolve(
                &self,
                _: rustls::server::ClientHello<'_>,
            ) -> Option<Arc<rustls::sign::CertifiedKey>> {
                Some(Arc::clone(&self.0))
            }
        }
        let other = KeyPair::generate().expect("key");
        let other = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(other.serialize_der()));
        let signer = rustls::crypto::ring::sign::any_supported_type(&other).expect("signing key");
        let certified = rustls::sign::CertifiedKey::new(vec![self.cert_der.clone()], signer);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_protocol_versions(&[version])
                .expect("protocol versions")
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(Always(Arc::new(certified)))),
        )
    }

    pub fn ca_path(&self) -> String {
        self.ca_file.path().display().to_string()
    }
}

/// Lines the server received, each with whether it came inside TLS.
pub type ReceivedLog = Arc<Mutex<Vec<(bool, Vec<u8>)>>>;

enum Stream {
    Plain(BufReader<TcpStream>),
    Tls(Box<BufReader<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>>),
    Gone,
}

/// The server's side of one connection, driven by a test's script.
pub struct Peer {
    stream: Stream,
    tls_config: Option<Arc<rustls::ServerConfig>>,
    /// Every line received, with whether it arrived inside TLS.
    pub log: ReceivedLog,
}

impl Peer {
    fn tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    /// True once a write failed or the connection was closed: the client is gone.
    pub fn is_gone(&self) -> bool {
        matches!(self.stream, Stream::Gone)
    }

    pub fn send(&mut self, bytes: &[u8]) {
        let r = match &mut self.stream {
            Stream::Plain(s) => s
                .get_mut()
                .write_all(bytes)
                .and_then(|_| s.get_mut().flush()),
            Stream::Tls(s) => s
                .get_mut()
                .write_all(bytes)
                .and_then(|_| s.get_mut().flush()),
            Stream::Gone => Ok(()),
        };
        if r.is_err() {
            self.stream = Stream::Gone;
        }
    }

    /// Reads one line (up to LF). `None` when the client closed or sent nothing in 10 s.
    pub fn line(&mut self) -> Option<Vec<u8>> {
        let mut buf = Vec::new();
        let tls = self.tls();
        let n = match &mut self.stream {
            Stream::Plain(s) => s.read_until(b'\n', &mut buf).ok()?,
            Stream::Tls(s) => s.read_until(b'\n', &mut buf).ok()?,
            Stream::Gone => return None,
        };
        if n == 0 {
            return None;
        }
        self.log.lock().expect("log").push((tls, buf.clone()));
        Some(buf)
    }

    /// Bytes that arrived and are not read yet: after a line, anything here came with it (a
    /// client that waits for each reply has sent nothing more).
    #[allow(dead_code)]
    pub fn pending(&self) -> usize {
        match &self.stream {
            Stream::Plain(s) => s.buffer().len(),
            Stream::Tls(s) => s.buffer().len(),
            Stream::Gone => 0,
        }
    }

    /// Reads exactly `buf.len()` bytes (a BDAT chunk); panics if the client stops short.
    #[allow(dead_code)]
    pub fn read_exact(&mut self, buf: &mut [u8]) {
        let r = match &mut self.stream {
            Stream::Plain(s) => s.read_exact(buf),
            Stream::Tls(s) => s.read_exact(buf),
            Stream::Gone => panic!("the client is gone"),
        };
        r.expect("the whole chunk");
    }

    /// Reads a line and checks it starts with `prefix` (case-insensitive).
    pub fn expect(&mut self, prefix: &str) -> Vec<u8> {
        let line = self
            .line()
            .unwrap_or_else(|| panic!("client closed; expected {prefix}"));
        assert!(
            line.to_ascii_uppercase()
                .starts_with(prefix.to_ascii_uppercase().as_bytes()),
            "expected {prefix}, got {:?}",
            String::from_utf8_lossy(&line)
        );
        line
    }

    /// Waits until the client closes; returns whatever bytes it sent meanwhile. They are
    /// logged one line at a time, so a check on a line's start sees every line.
    pub fn drain(&mut self) -> Vec<u8> {
        let mut rest = Vec::new();
        let _ = match &mut self.stream {
            Stream::Plain(s) => s.read_to_end(&mut rest),
            Stream::Tls(s) => s.read_to_end(&mut rest),
            Stream::Gone => Ok(0),
        };
        let tls = self.tls();
        let mut log = self.log.lock().expect("log");
        for line in rest.split_inclusive(|&b| b == b'\n') {
            log.push((tls, line.to_vec()));
        }
        rest
    }

    /// Server side of the TLS handshake on the plaintext connection. When it fails, the
    /// connection stays open in plaintext (the handshake's bytes consumed): a client must send
    /// nothing more, and only a server that goes on reading can see whether it did.
    pub fn start_tls(&mut self) -> bool {
        let Some(config) = self.tls_config.clone() else {
            panic!("no TLS config for this fake server");
        };
        let Stream::Plain(reader) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return false;
        };
        assert!(
            reader.buffer().is_empty(),
            "client pipelined bytes before the handshake"
        );
        let mut tcp = reader.into_inner();
        match server_handshake(config, &mut tcp) {
            Handshake::Done(conn) => {
                let tls = rustls::StreamOwned::new(*conn, tcp);
                self.stream = Stream::Tls(Box::new(BufReader::new(tls)));
                true
            }
            Handshake::Failed { after } => {
                let mut log = self.log.lock().expect("log");
                for line in after.split_inclusive(|&b| b == b'\n') {
                    log.push((false, line.to_vec()));
                }
                drop(log);
                self.stream = Stream::Plain(BufReader::new(tcp));
                false
            }
        }
    }

    pub fn close(&mut self) {
        if let Stream::Tls(s) = &mut self.stream {
            s.get_mut().conn.send_close_notify();
            let _ = s.get_mut().flush();
        }
        self.stream = Stream::Gone;
    }
}

/// How a server-side handshake ended.
pub enum Handshake {
    Done(Box<rustls::ServerConnection>),
    /// `after`: bytes the client sent that are not TLS records (its ClientHello and alert are),
    /// read by the TLS stack along with them. A client must send none after a failed handshake.
    Failed {
        after: Vec<u8>,
    },
}

/// The server's side of a TLS handshake on `tcp`, keeping a copy of every byte read: when the
/// handshake fails, the TLS stack may already have read (and would swallow) what the client
/// sent right after its alert, so those bytes are recovered from the copy.
pub fn server_handshake(config: Arc<rustls::ServerConfig>, tcp: &mut TcpStream) -> Handshake {
    let Ok(mut conn) = rustls::ServerConnection::new(config) else {
        return Handshake::Failed { after: Vec::new() };
    };
    let mut tee = Tee {
        inner: tcp,
        seen: Vec::new(),
    };
    while conn.is_handshaking() {
        if conn.complete_io(&mut tee).is_err() {
            return Handshake::Failed {
                after: past_tls_records(&tee.seen).to_vec(),
            };
        }
    }
    Handshake::Done(Box::new(conn))
}

/// Whatever follows the complete TLS records at the start of `bytes`.
fn past_tls_records(mut bytes: &[u8]) -> &[u8] {
    while let [kind, 3, _, hi, lo, rest @ ..] = bytes
        && (20..=23).contains(kind)
    {
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        match rest.get(len..) {
            Some(next) => bytes = next,
            None => return &[],
        }
    }
    bytes
}

/// Reads and writes through to a socket, keeping a copy of what was read.
struct Tee<'a> {
    inner: &'a mut TcpStream,
    seen: Vec<u8>,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

impl Write for Tee<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

pub struct FakeServer {
    pub port: u16,
    pub log: ReceivedLog,
    handle: Option<JoinHandle<()>>,
}

impl FakeServer {
    /// Accepts one connection and runs `script` on it in a thread.
    pub fn start(
        tls: Option<Arc<rustls::ServerConfig>>,
        implicit_tls: bool,
        script: impl FnOnce(&mut Peer) + Send + 'static,
    ) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("local addr").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let peer_log = Arc::clone(&log);
        let handle = std::thread::spawn(move || {
            let Ok((tcp, _)) = listener.accept() else {
                return;
            };
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
            let mut peer = Peer {
                stream: Stream::Plain(BufReader::new(tcp)),
                tls_config: tls,
                log: peer_log,
            };
            if implicit_tls && !peer.start_tls() {
                // Whatever follows a failed handshake is logged for the test to judge.
                peer.drain();
                return;
            }
            script(&mut peer);
        });
        FakeServer {
            port,
            log,
            handle: Some(handle),
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Waits for the script to finish and returns every line the server received.
    pub fn finish(mut self) -> Vec<(bool, String)> {
        if let Some(h) = self.handle.take() {
            h.join().expect("fake server thread");
        }
        self.received()
    }

    pub fn received(&self) -> Vec<(bool, String)> {
        self.log
            .lock()
            .expect("log")
            .iter()
            .map(|(tls, l)| (*tls, String::from_utf8_lossy(l).into_owned()))
            .collect()
    }
}

/// Standard opening: banner, then answer EHLO with `caps`.
pub fn greet(peer: &mut Peer, caps: &[&str]) {
    peer.send(b"220 fake.test ESMTP\r\n");
    peer.expect("EHLO");
    send_ehlo(peer, caps);
}

pub fn send_ehlo(peer: &mut Peer, caps: &[&str]) {
    let mut lines = vec!["fake.test".to_string()];
    lines.extend(caps.iter().map(|s| s.to_string()));
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        let sep = if i + 1 == lines.len() { ' ' } else { '-' };
        out.push_str(&format!("250{sep}{l}\r\n"));
    }
    peer.send(out.as_bytes());
}
