//! How the bytes reach the server: straight over TCP, through a SOCKS5 proxy, over a UNIX
//! domain socket, or through a program's standard input and output (`--pipe`). Whichever
//! route, the session above sees one [`Wire`], so STARTTLS, the PROXY header and every
//! exchange work the same over each.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio::time::Instant;

use super::connect::{Origin, Target, connect_from};
use super::error::NetError;
use super::pipe::{self, PipeChild, PipeCommand, PipeStdio};
use crate::smtp::socks5::{self, Destination, Method, Parsed};

/// The way to the server.
#[derive(Debug, Clone, Default)]
pub enum Route {
    #[default]
    Direct,
    /// Through a SOCKS5 proxy, which resolves the server's name itself.
    Socks5(Socks5Route),
    /// A UNIX domain socket; the target then only names the server (TLS name, EHLO).
    Unix(PathBuf),
    /// A program spoken to over its standard input and output (`exim -bh 192.0.2.9`), started
    /// afresh for each connection; the target then only names the server (TLS name, EHLO).
    Pipe(PipeCommand),
}

impl Route {
    /// True when the route is a program, not a socket: nothing that needs an address (a
    /// PROXY header, the TLS version probes' own connections) applies.
    pub fn is_pipe(&self) -> bool {
        matches!(self, Route::Pipe(_))
    }
}

#[derive(Debug, Clone)]
pub struct Socks5Route {
    pub proxy: Target,
    /// Username and password (RFC 1929); the password is only ever held in memory.
    pub login: Option<(String, SecretString)>,
}

/// A connected byte stream, whichever route it took.
#[derive(Debug)]
pub enum Wire {
    Tcp(TcpStream),
    Unix(UnixStream),
    Pipe(PipeStdio),
}

impl Wire {
    /// Reads what is already there without waiting (see `TcpStream::try_read`).
    pub fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Wire::Tcp(s) => s.try_read(buf),
            Wire::Unix(s) => s.try_read(buf),
            Wire::Pipe(s) => s.try_read(buf),
        }
    }

    /// Asks the kernel to acknowledge what arrives next without its delayed-ACK wait (Linux's
    /// `TCP_QUICKACK`; elsewhere, and on a UNIX socket, nothing).
    ///
    /// Why: a TLS 1.3 server sends its session tickets just after the handshake. A client
    /// that has already sent EHLO leaves them unacknowledged for up to 40 ms (delayed ACK,
    /// since nothing goes back to carry the ACK), and a server with Nagle's algorithm on
    /// (Postfix) holds its EHLO reply until they are acknowledged: a 40 ms stall that reads
    /// as a slow server. The setting is not sticky (sending data turns delayed ACKs back on),
    /// so it is set after each write. A failure only costs that latency: it is ignored.
    pub fn ack_promptly(&self) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Wire::Tcp(s) = self {
            let _ = rustix::net::sockopt::set_tcp_quickack(s, true);
        }
    }
}

impl AsyncRead for Wire {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Wire::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Wire::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Wire::Pipe(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Wire {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Wire::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Wire::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Wire::Pipe(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Wire::Tcp(s) => Pin::new(s).poll_flush(cx),
            Wire::Unix(s) => Pin::new(s).poll_flush(cx),
            Wire::Pipe(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Wire::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Wire::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Wire::Pipe(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// A connection made, and what to call the other end in the transcript.
pub struct Opened {
    pub wire: Wire,
    /// The server's socket address when the connection went straight to it.
    pub peer: Option<SocketAddr>,
    /// "127.0.0.1:25", "mx.example.org:25 via SOCKS5 127.0.0.1:1080", "/run/smtpd.sock",
    /// "pipe: exim -bh 192.0.2.9 (pid 4242)".
    pub described: String,
    /// The program at the other end of a pipe, to be reaped when the session ends.
    pub child: Option<PipeChild>,
}

/// Opens the route to `target` within `timeout` (the SOCKS5 exchange included).
pub async fn open(
    route: &Route,
    target: &Target,
    timeout: Duration,
    origin: Origin,
) -> Result<Opened, NetError> {
    match route {
        Route::Direct => {
            let (stream, peer) = connect_from(target, timeout, origin).await?;
            Ok(Opened {
                wire: Wire::Tcp(stream),
                peer: Some(peer),
                described: peer.to_string(),
                child: None,
            })
        }
        Route::Unix(path) => {
            let shown = path.display().to_string();
            match tokio::time::timeout(timeout, UnixStream::connect(path)).await {
                Err(_) => Err(NetError::ConnectTimeout {
                    target: shown,
                    secs: timeout.as_secs_f64(),
                }),
                Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    Err(NetError::Refused { target: shown })
                }
                Ok(Err(e)) => Err(NetError::Connect {
                    target: shown,
                    reason: e.to_string(),
                }),
                Ok(Ok(stream)) => Ok(Opened {
                    wire: Wire::Unix(stream),
                    peer: None,
                    described: shown,
                    child: None,
                }),
            }
        }
        Route::Pipe(command) => {
            let shown = format!("pipe: {command}");
            match pipe::spawn(command) {
                Err(e) => Err(NetError::Connect {
                    target: shown,
                    reason: format!("the program could not be started: {e}"),
                }),
                Ok((stdio, child)) => Ok(Opened {
                    wire: Wire::Pipe(stdio),
                    peer: None,
                    described: match child.pid() {
                        Some(pid) => format!("{shown} (pid {pid})"),
                        None => shown,
                    },
                    child: Some(child),
                }),
            }
        }
        Route::Socks5(socks) => {
            let deadline = Instant::now() + timeout;
            // An unreachable proxy is named as the proxy, not mistaken for the mail server.
            let as_proxy = |t: String| format!("the SOCKS5 proxy {t}");
            let (mut stream, proxy_addr) = connect_from(&socks.proxy, timeout, origin)
                .await
                .map_err(|e| match e {
                    NetError::Refused { target } => NetError::Refused {
                        target: as_proxy(target),
                    },
                    NetError::ConnectTimeout { target, secs } => NetError::ConnectTimeout {
                        target: as_proxy(target),
                        secs,
                    },
                    NetError::Connect { target, reason } => NetError::Connect {
                        target: as_proxy(target),
                        reason,
                    },
                    other => other,
                })?;
            let described = format!("{target} via SOCKS5 {proxy_addr}");
            let late = || NetError::ConnectTimeout {
                target: described.clone(),
                secs: timeout.as_secs_f64(),
            };
            match tokio::time::timeout_at(deadline, socks5_connect(&mut stream, socks, target))
                .await
            {
                Err(_) => Err(late()),
                Ok(Err(e)) => Err(e),
                Ok(Ok(())) => Ok(Opened {
                    wire: Wire::Tcp(stream),
                    peer: None,
                    described,
                    child: None,
                }),
            }
        }
    }
}

/// The SOCKS5 exchange on a connected stream, leaving it at the server's first byte.
async fn socks5_connect(
    stream: &mut TcpStream,
    socks: &Socks5Route,
    target: &Target,
) -> Result<(), NetError> {
    let with_login = socks.login.is_some();
    let proxy = socks.proxy.to_string();
    let fail = |e: socks5::Socks5Error| NetError::Socks5 {
        proxy: proxy.clone(),
        reason: e,
    };
    send(stream, &socks5::greeting(with_login), &proxy).await?;
    let mut buf = Vec::new();
    let method = read_until(stream, &mut buf, &proxy, |b| {
        socks5::method_choice(b, with_login)
    })
    .await?
    .map_err(fail)?;
    if method == Method::UserPass
        && let Some((user, password)) = &socks.login
    {
        let message = zeroize::Zeroizing::new(
            socks5::login(user, password.expose_secret().as_bytes()).map_err(fail)?,
        );
        send(stream, &message, &proxy).await?;
        read_until(stream, &mut buf, &proxy, socks5::login_result)
            .await?
            .map_err(fail)?;
    }
    let request =
        socks5::connect_request(&Destination::of(&target.host), target.port).map_err(fail)?;
    send(stream, &request, &proxy).await?;
    read_until(stream, &mut buf, &proxy, socks5::connect_reply)
        .await?
        .map_err(fail)?;
    Ok(())
}

async fn send(stream: &mut TcpStream, bytes: &[u8], proxy: &str) -> Result<(), NetError> {
    stream.write_all(bytes).await.map_err(|e| NetError::Io {
        doing: format!("talking to the SOCKS5 proxy {proxy}"),
        reason: e.to_string(),
    })
}

/// Reads exactly as many bytes as `parse` asks for (never past its answer, so the SMTP
/// banner stays in the socket), then returns its answer; `buf` is emptied for the next step.
async fn read_until<T>(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    proxy: &str,
    parse: impl Fn(&[u8]) -> Result<Parsed<T>, socks5::Socks5Error>,
) -> Result<Result<T, socks5::Socks5Error>, NetError> {
    loop {
        let need = match parse(buf) {
            Err(e) => return Ok(Err(e)),
            Ok(Parsed::Done(value, used)) => {
                buf.drain(..used);
                return Ok(Ok(value));
            }
            Ok(Parsed::NeedBytes(n)) => n,
        };
        let have = buf.len();
        buf.resize(need, 0);
        match stream.read(&mut buf[have..]).await {
            Ok(0) => {
                return Err(NetError::Closed {
                    waiting_for: format!("the SOCKS5 proxy {proxy}"),
                });
            }
            Ok(n) => buf.truncate(have + n),
            Err(e) => {
                return Err(NetError::Io {
                    doing: format!("waiting for the SOCKS5 proxy {proxy}"),
                    reason: e.to_string(),
                });
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // test code
mod tests {
    use super::*;
    use tokio::net::{TcpListener, UnixListener};

    fn loopback(port: u16) -> Target {
        Target {
            host: "127.0.0.1".into(),
            port,
        }
    }

    /// A proxy that sends its CONNECT reply and the mail server's banner in one write: the
    /// SOCKS5 exchange reads exactly its reply, so the banner is still there for the session.
    #[tokio::test]
    async fn the_socks5_exchange_leaves_a_banner_sent_with_its_reply_unread() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut greeting = [0u8; 3];
            s.read_exact(&mut greeting).await.unwrap();
            assert_eq!(greeting, [5, 1, 0], "no login offered");
            s.write_all(&[5, 0]).await.unwrap();
            let mut head = [0u8; 5];
            s.read_exact(&mut head).await.unwrap();
            let mut rest = vec![0u8; usize::from(head[4]) + 2];
            s.read_exact(&mut rest).await.unwrap();
            assert_eq!(
                &rest[..rest.len() - 2],
                b"mx.example",
                "the name, unresolved"
            );
            let mut answer = vec![5, 0, 0, 1, 127, 0, 0, 1, 0, 25];
            answer.extend_from_slice(b"220 behind.proxy ESMTP\r\n");
            s.write_all(&answer).await.unwrap();
            s
        });
        let route = Route::Socks5(Socks5Route {
            proxy: loopback(port),
            login: None,
        });
        let target = Target {
            host: "mx.example".into(),
            port: 25,
        };
        let opened = open(&route, &target, Duration::from_secs(30), Origin::default())
            .await
            .expect("through the proxy");
        assert_eq!(
            opened.described,
            format!("mx.example:25 via SOCKS5 127.0.0.1:{port}")
        );
        assert!(
            opened.peer.is_none(),
            "the server's address is the proxy's business"
        );
        let mut wire = opened.wire;
        let mut banner = [0u8; 24];
        // Bounded only so that a consumed banner fails the test instead of hanging it.
        tokio::time::timeout(Duration::from_secs(60), wire.read_exact(&mut banner))
            .await
            .expect("the banner was consumed with the proxy's reply")
            .expect("the banner");
        assert_eq!(&banner, b"220 behind.proxy ESMTP\r\n");
        drop(proxy.await.unwrap());
    }

    /// A proxy that is not there is named as the proxy, not taken for the mail server.
    #[tokio::test]
    async fn an_absent_proxy_is_named_as_the_proxy() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let route = Route::Socks5(Socks5Route {
            proxy: loopback(port),
            login: None,
        });
        let Err(e) = open(
            &route,
            &loopback(25),
            Duration::from_secs(30),
            Origin::default(),
        )
        .await
        else {
            panic!("nothing listens there");
        };
        assert!(
            matches!(&e, NetError::Refused { target } if target.starts_with(&format!("the SOCKS5 proxy 127.0.0.1:{port}"))),
            "{e:?}"
        );
    }

    /// A UNIX socket nobody listens on is "refused" with its path; a path that is not there
    /// is a connect error with the system's reason.
    #[tokio::test]
    async fn a_unix_socket_without_a_listener_is_refused_by_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("smtpd.sock");
        drop(UnixListener::bind(&path).unwrap());
        let shown = path.display().to_string();
        let route = Route::Unix(path);
        let Err(e) = open(
            &route,
            &loopback(25),
            Duration::from_secs(30),
            Origin::default(),
        )
        .await
        else {
            panic!("nobody listens");
        };
        assert!(
            matches!(&e, NetError::Refused { target } if target == &shown),
            "{e:?}"
        );

        let missing = dir.path().join("none.sock");
        let route = Route::Unix(missing.clone());
        let Err(e) = open(
            &route,
            &loopback(25),
            Duration::from_secs(30),
            Origin::default(),
        )
        .await
        else {
            panic!("no such socket");
        };
        assert!(
            matches!(&e, NetError::Connect { target, reason }
                if target == &missing.display().to_string() && !reason.is_empty()),
            "{e:?}"
        );
    }
}
