//! One DNS question asked directly of a server, with the bits the resolver library does not
//! set: AD (RFC 6840 §5.7) and EDNS DO (RFC 3225), so that a validating resolver says whether
//! it validated the answer. UDP first, TCP when the answer is truncated.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::proto::ProtoError;
use hickory_resolver::proto::op::{Edns, Message, Query};
use hickory_resolver::proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

const TIMEOUT: Duration = Duration::from_secs(5);
const ATTEMPTS: usize = 2;
/// RFC 9715's advice for EDNS over UDP.
const UDP_PAYLOAD: u16 = 1232;

/// Why a question got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("bad name {name:?}: {source}")]
    BadName { name: String, source: ProtoError },
    #[error("{0}")]
    Encode(#[source] ProtoError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("no answer within {secs} s")]
    NoAnswer { secs: u64 },
    #[error("no answer over TCP within {secs} s")]
    NoAnswerTcp { secs: u64 },
    #[error("question too long")]
    TooLong,
    #[error("{0}")]
    BadAnswer(#[source] hickory_resolver::proto::serialize::binary::DecodeError),
    #[error("answer over TCP has another id")]
    OtherId,
}

fn request(id: u16, name: &str, rtype: RecordType) -> Result<Vec<u8>, QueryError> {
    let name = Name::from_ascii(name).map_err(|source| QueryError::BadName {
        name: name.to_string(),
        source,
    })?;
    let mut msg = Message::query();
    msg.metadata.id = id;
    msg.metadata.recursion_desired = true;
    msg.metadata.authentic_data = true;
    msg.add_query(Query::query(name, rtype));
    let mut edns = Edns::new();
    edns.set_dnssec_ok(true);
    edns.set_max_payload(UDP_PAYLOAD);
    msg.set_edns(edns);
    msg.to_vec().map_err(QueryError::Encode)
}

fn random_id() -> u16 {
    let mut b = [0u8; 2];
    // A fixed id only weakens spoofing resistance; the answer is still checked against it.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    u16::from_be_bytes(b)
}

/// Asks `server` for `name`/`rtype`; the answer's header (AD, rcode) and records.
pub async fn query(
    server: SocketAddr,
    name: &str,
    rtype: RecordType,
) -> Result<Message, QueryError> {
    let id = random_id();
    let wire = request(id, name, rtype)?;
    let bind: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(bind).await?;
    socket.connect(server).await?;
    let mut buf = vec![0u8; 65_535];
    for _ in 0..ATTEMPTS {
        socket.send(&wire).await?;
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let n = match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
                Err(_) => break,
                Ok(Err(e)) => return Err(e.into()),
                Ok(Ok(n)) => n,
            };
            let Ok(msg) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            // Not ours: a late answer to an earlier question, or a spoof.
            if msg.metadata.id != id {
                continue;
            }
            if msg.metadata.truncation {
                return query_tcp(server, id, &wire).await;
            }
            return Ok(msg);
        }
    }
    Err(QueryError::NoAnswer {
        secs: TIMEOUT.as_secs(),
    })
}

async fn query_tcp(server: SocketAddr, id: u16, wire: &[u8]) -> Result<Message, QueryError> {
    let run = async {
        let mut tcp = TcpStream::connect(server).await?;
        let len = u16::try_from(wire.len()).map_err(|_| QueryError::TooLong)?;
        let mut framed = len.to_be_bytes().to_vec();
        framed.extend_from_slice(wire);
        tcp.write_all(&framed).await?;
        let mut len = [0u8; 2];
        tcp.read_exact(&mut len).await?;
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        tcp.read_exact(&mut body).await?;
        let msg = Message::from_vec(&body).map_err(QueryError::BadAnswer)?;
        if msg.metadata.id != id {
            return Err(QueryError::OtherId);
        }
        Ok(msg)
    };
    tokio::time::timeout(TIMEOUT, run)
        .await
        .unwrap_or(Err(QueryError::NoAnswerTcp {
            secs: TIMEOUT.as_secs(),
        }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // test code
mod tests {
    use super::*;

    #[test]
    fn the_question_asks_for_ad_and_do() {
        let wire = request(0x1234, "_25._tcp.mx.example.", RecordType::TLSA).unwrap();
        let msg = Message::from_vec(&wire).unwrap();
        assert_eq!(msg.metadata.id, 0x1234);
        assert!(msg.metadata.authentic_data);
        assert!(msg.metadata.recursion_desired);
        let edns = msg.edns.as_ref().expect("EDNS");
        assert!(edns.flags().dnssec_ok);
        assert_eq!(msg.queries[0].query_type(), RecordType::TLSA);
    }
}
