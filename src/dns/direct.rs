//! One DNS question asked directly of a server, with the bits the resolver library does not
//! set: AD (RFC 6840 §5.7) and EDNS DO (RFC 3225), so that a validating resolver says whether
//! it validated the answer. UDP first, TCP when the answer is truncated.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::proto::op::{Edns, Message, Query};
use hickory_resolver::proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

const TIMEOUT: Duration = Duration::from_secs(5);
const ATTEMPTS: usize = 2;
/// RFC 9715's advice for EDNS over UDP.
const UDP_PAYLOAD: u16 = 1232;

fn request(id: u16, name: &str, rtype: RecordType) -> Result<Vec<u8>, String> {
    let name = Name::from_ascii(name).map_err(|e| format!("bad name {name:?}: {e}"))?;
    let mut msg = Message::query();
    msg.metadata.id = id;
    msg.metadata.recursion_desired = true;
    msg.metadata.authentic_data = true;
    msg.add_query(Query::query(name, rtype));
    let mut edns = Edns::new();
    edns.set_dnssec_ok(true);
    edns.set_max_payload(UDP_PAYLOAD);
    msg.set_edns(edns);
    msg.to_vec().map_err(|e| e.to_string())
}

fn random_id() -> u16 {
    let mut b = [0u8; 2];
    // A fixed id only weakens spoofing resistance; the answer is still checked against it.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    u16::from_be_bytes(b)
}

/// Asks `server` for `name`/`rtype`; the answer's header (AD, rcode) and records.
pub async fn query(server: SocketAddr, name: &str, rtype: RecordType) -> Result<Message, String> {
    let id = random_id();
    let wire = request(id, name, rtype)?;
    let bind: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(bind).await.map_err(|e| e.to_string())?;
    socket.connect(server).await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 65_535];
    let mut last = String::from("no answer");
    for _ in 0..ATTEMPTS {
        socket.send(&wire).await.map_err(|e| e.to_string())?;
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let n = match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
                Err(_) => {
                    last = format!("no answer within {} s", TIMEOUT.as_secs());
                    break;
                }
                Ok(Err(e)) => return Err(e.to_string()),
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
    Err(last)
}

async fn query_tcp(server: SocketAddr, id: u16, wire: &[u8]) -> Result<Message, String> {
    let run = async {
        let mut tcp = TcpStream::connect(server)
            .await
            .map_err(|e| e.to_string())?;
        let len = u16::try_from(wire.len()).map_err(|_| "question too long".to_string())?;
        let mut framed = len.to_be_bytes().to_vec();
        framed.extend_from_slice(wire);
        tcp.write_all(&framed).await.map_err(|e| e.to_string())?;
        let mut len = [0u8; 2];
        tcp.read_exact(&mut len).await.map_err(|e| e.to_string())?;
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        tcp.read_exact(&mut body).await.map_err(|e| e.to_string())?;
        let msg = Message::from_vec(&body).map_err(|e| e.to_string())?;
        if msg.metadata.id != id {
            return Err("answer over TCP has another id".to_string());
        }
        Ok(msg)
    };
    tokio::time::timeout(TIMEOUT, run)
        .await
        .unwrap_or_else(|_| Err(format!("no answer over TCP within {} s", TIMEOUT.as_secs())))
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
