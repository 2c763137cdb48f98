//! One HTTPS GET, just enough for an MTA-STS policy (RFC 8461 §3.3): the certificate verified
//! for the host, redirects refused, the body size and the total time capped. HTTP/1.1 with
//! `Connection: close`; Content-Length and chunked bodies are understood.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;

use super::tls::{self, TlsOptions};

/// Headers larger than this are not a policy server's.
const MAX_HEADERS: usize = 16 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_body: usize,
    /// For everything: connect, handshake, request and response.
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FetchError {
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: SocketAddr, reason: String },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("no complete answer within {secs:.0} s")]
    Timeout { secs: f64 },
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("not an HTTP response: {0}")]
    Malformed(String),
    #[error("network error: {0}")]
    Io(String),
}

/// What the bytes so far amount to.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    Incomplete,
    Done(Response),
}

/// Parses a response; `closed` says the server has closed (the body then ends there).
pub fn parse_response(bytes: &[u8], max_body: usize, closed: bool) -> Result<Parsed, FetchError> {
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        if bytes.len() > MAX_HEADERS {
            return Err(FetchError::Malformed("headers over 16 KiB".into()));
        }
        return if closed {
            Err(FetchError::Malformed(format!(
                "the connection closed after {} bytes, before the headers ended",
                bytes.len()
            )))
        } else {
            Ok(Parsed::Incomplete)
        };
    };
    let head = String::from_utf8_lossy(&bytes[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err(FetchError::Malformed(format!(
            "status line {status_line:?}"
        )));
    };
    let status = match (version.starts_with("HTTP/1."), code.parse::<u16>()) {
        (true, Ok(c)) if (100..600).contains(&c) => c,
        _ => {
            return Err(FetchError::Malformed(format!(
                "status line {status_line:?}"
            )));
        }
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let response = |body: Vec<u8>| Response {
        status,
        headers: headers.clone(),
        body,
    };
    let raw = &bytes[end + 4..];
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    // A redirect is answered by its status alone.
    if (300..400).contains(&status) {
        return Ok(Parsed::Done(response(Vec::new())));
    }
    if get("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        return dechunk(raw, max_body, closed).map(|b| match b {
            Some(body) => Parsed::Done(response(body)),
            None => Parsed::Incomplete,
        });
    }
    if let Some(len) = get("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| FetchError::Malformed(format!("Content-Length {len:?}")))?;
        if len > max_body {
            return Err(FetchError::TooLarge { limit: max_body });
        }
        return match (raw.len() >= len, closed) {
            (true, _) => Ok(Parsed::Done(response(raw[..len].to_vec()))),
            (false, true) => Err(FetchError::Malformed(format!(
                "the body ended after {} of {len} bytes",
                raw.len()
            ))),
            (false, false) => Ok(Parsed::Incomplete),
        };
    }
    if raw.len() > max_body {
        return Err(FetchError::TooLarge { limit: max_body });
    }
    Ok(if closed {
        Parsed::Done(response(raw.to_vec()))
    } else {
        Parsed::Incomplete
    })
}

/// A chunked body (RFC 9112 §7.1), or `None` while the last chunk has not arrived.
fn dechunk(mut raw: &[u8], max_body: usize, closed: bool) -> Result<Option<Vec<u8>>, FetchError> {
    let mut body = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&raw[..eol]);
        let size_hex = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| FetchError::Malformed(format!("chunk size {size_hex:?}")))?;
        if size == 0 {
            return Ok(Some(body));
        }
        if body.len() + size > max_body {
            return Err(FetchError::TooLarge { limit: max_body });
        }
        let start = eol + 2;
        if raw.len() < start + size + 2 {
            break;
        }
        body.extend_from_slice(&raw[start..start + size]);
        raw = &raw[start + size + 2..];
    }
    if closed {
        return Err(FetchError::Malformed(
            "the connection closed inside a chunked body".into(),
        ));
    }
    Ok(None)
}

/// GET `https://<host><path>` from `addr`, verifying the certificate for `host` with the trust
/// of `trust` (its name, SNI, version and client-certificate settings do not apply).
pub async fn get(
    host: &str,
    addr: SocketAddr,
    path: &str,
    trust: &TlsOptions,
    limits: Limits,
) -> Result<Response, FetchError> {
    let secs = limits.timeout.as_secs_f64();
    tokio::time::timeout(limits.timeout, get_inner(host, addr, path, trust, limits))
        .await
        .unwrap_or(Err(FetchError::Timeout { secs }))
}

async fn get_inner(
    host: &str,
    addr: SocketAddr,
    path: &str,
    trust: &TlsOptions,
    limits: Limits,
) -> Result<Response, FetchError> {
    let opts = TlsOptions {
        trust: trust.trust,
        ca_file: trust.ca_file.clone(),
        insecure: false,
        ..TlsOptions::default()
    };
    let (config, record) = tls::client_config(&opts).map_err(|e| FetchError::Tls(e.to_string()))?;
    let name = tls::server_name(host).map_err(|e| FetchError::Tls(e.to_string()))?;
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| FetchError::Connect {
            addr,
            reason: e.to_string(),
        })?;
    let mut stream = match TlsConnector::from(config).connect(name, tcp).await {
        Ok(s) => s,
        Err(e) => {
            let failure = match record.lock() {
                Ok(r) => r.failure.clone(),
                Err(p) => p.into_inner().failure.clone(),
            };
            return Err(FetchError::Tls(failure.map_or_else(
                || e.to_string(),
                |f| format!("certificate not valid for {host}: {f}"),
            )));
        }
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: smtpscope\r\nAccept: text/plain\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| FetchError::Io(e.to_string()))?;
    let mut bytes = Vec::new();
    let mut buf = vec![0u8; 8192];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(n) => n,
            // A server that closes without close_notify has still sent its whole answer.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(FetchError::Io(e.to_string())),
        };
        bytes.extend_from_slice(&buf[..n]);
        match parse_response(&bytes, limits.max_body, n == 0)? {
            Parsed::Done(r) => return Ok(r),
            Parsed::Incomplete if bytes.len() > MAX_HEADERS + limits.max_body => {
                return Err(FetchError::TooLarge {
                    limit: limits.max_body,
                });
            }
            Parsed::Incomplete => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // test code
mod tests {
    use super::*;

    fn done(bytes: &[u8], closed: bool) -> Response {
        match parse_response(bytes, 100, closed).unwrap() {
            Parsed::Done(r) => r,
            Parsed::Incomplete => panic!("incomplete"),
        }
    }

    #[test]
    fn content_length_body() {
        let r = done(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
            false,
        );
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
        assert_eq!(r.header("content-type"), Some("text/plain"));
        assert_eq!(
            parse_response(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",
                100,
                false
            ),
            Ok(Parsed::Incomplete)
        );
    }

    #[test]
    fn chunked_body_at_every_cut() {
        let whole = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nvers\r\n6;x=y\r\nion: 1\r\n0\r\n\r\n";
        // The last chunk's line ends the body; its trailing CRLF (trailers) is not awaited.
        for cut in 0..whole.len() - 2 {
            assert_eq!(
                parse_response(&whole[..cut], 100, false),
                Ok(Parsed::Incomplete),
                "cut {cut}"
            );
        }
        assert_eq!(done(whole, false).body, b"version: 1");
    }

    #[test]
    fn redirects_oversize_and_garbage() {
        let r = done(
            b"HTTP/1.1 301 Moved\r\nLocation: https://elsewhere/\r\n\r\n",
            false,
        );
        assert_eq!(r.status, 301);
        assert_eq!(r.header("location"), Some("https://elsewhere/"));
        assert_eq!(
            parse_response(
                b"HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n",
                100,
                false
            ),
            Err(FetchError::TooLarge { limit: 100 })
        );
        let big = [b"HTTP/1.1 200 OK\r\n\r\n".as_slice(), &[b'x'; 101]].concat();
        assert_eq!(
            parse_response(&big, 100, false),
            Err(FetchError::TooLarge { limit: 100 })
        );
        assert!(matches!(
            parse_response(b"220 mail ESMTP\r\n\r\n", 100, false),
            Err(FetchError::Malformed(_))
        ));
        // Without a length, the body ends when the server closes.
        assert_eq!(done(b"HTTP/1.0 200 OK\r\n\r\nabc", true).body, b"abc");
    }
}
