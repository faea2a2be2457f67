//! One DNS exchange over UDP (EDNS0, retried over TCP on truncation) or
//! TCP, with deadlines. Wire building and parsing are dmp-core's.

use dmp_core::client::resolver::Reply;
use dmp_core::dns::client::{TxtResponse, build_txt_query, parse_txt_response};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// EDNS0 payload size we advertise over UDP (the DNS-flag-day value).
pub const EDNS_PAYLOAD: u16 = 1232;

/// Why an exchange produced no usable response.
#[derive(Debug)]
pub enum DnsError {
    Io(std::io::Error),
    Timeout,
    Malformed(String),
}

impl std::fmt::Display for DnsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DnsError::Io(e) => write!(f, "{e}"),
            DnsError::Timeout => write!(f, "timed out"),
            DnsError::Malformed(m) => write!(f, "malformed response: {m}"),
        }
    }
}

fn random_id() -> u16 {
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    u16::from_be_bytes(b)
}

fn bind_for(addr: &SocketAddr) -> std::io::Result<UdpSocket> {
    if addr.is_ipv4() {
        UdpSocket::bind(("0.0.0.0", 0))
    } else {
        UdpSocket::bind(("::", 0))
    }
}

/// Send `packet` over UDP and wait for the response with the same ID
/// (anything else is ignored) until `timeout` has passed.
pub fn udp_exchange(
    addr: SocketAddr,
    packet: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, DnsError> {
    let id = packet.get(..2).map(|b| [b[0], b[1]]);
    let sock = bind_for(&addr).map_err(DnsError::Io)?;
    sock.connect(addr).map_err(DnsError::Io)?;
    sock.send(packet).map_err(DnsError::Io)?;
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; 65_535];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(DnsError::Timeout);
        }
        sock.set_read_timeout(Some(left)).map_err(DnsError::Io)?;
        match sock.recv(&mut buf) {
            Ok(n) => {
                let got = buf.get(..n).unwrap_or_default();
                if n >= 12 && got.get(..2).map(|b| [b[0], b[1]]) == id {
                    return Ok(got.to_vec());
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(DnsError::Timeout);
            }
            Err(e) => return Err(DnsError::Io(e)),
        }
    }
}

/// One query over a fresh TCP connection (the reference node answers one
/// query per connection), 2-byte length framing.
pub fn tcp_exchange(
    addr: SocketAddr,
    packet: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, DnsError> {
    let deadline = Instant::now() + timeout;
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(DnsError::Io)?;
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    s.set_read_timeout(Some(left)).map_err(DnsError::Io)?;
    s.set_write_timeout(Some(left)).map_err(DnsError::Io)?;
    let len =
        u16::try_from(packet.len()).map_err(|_| DnsError::Malformed("query too long".into()))?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(packet);
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => DnsError::Timeout,
        _ => DnsError::Io(e),
    };
    s.write_all(&framed).map_err(io)?;
    let mut lb = [0u8; 2];
    s.read_exact(&mut lb).map_err(io)?;
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(lb))];
    s.read_exact(&mut body).map_err(io)?;
    Ok(body)
}

/// Sets the DNSSEC OK bit in a query built with EDNS (the OPT RR, with
/// empty RDATA, is the last record: its flags are bytes -4..-2).
fn set_do_bit(q: &mut [u8]) {
    let n = q.len();
    let opt_tail = n >= 23
        && q.get(n - 11) == Some(&0)
        && q.get(n - 10..n - 8) == Some(&[0, 41])
        && q.get(n - 2..n) == Some(&[0, 0]);
    if opt_tail && let Some(b) = q.get_mut(n - 4) {
        *b |= 0x80;
    }
}

/// The AD (authentic data) flag of a response header.
pub fn ad_flag(raw: &[u8]) -> bool {
    raw.get(3).is_some_and(|b| b & 0x20 != 0)
}

/// A TXT lookup of `name` at `addr`: UDP with EDNS0, then TCP without EDNS
/// when the answer is truncated (the reference node refuses large TCP
/// answers to EDNS queries).
pub fn query_txt(addr: SocketAddr, name: &str, timeout: Duration) -> Result<TxtResponse, DnsError> {
    query_txt_dnssec(addr, name, timeout, false).map(|(r, _)| r)
}

/// As [`query_txt`]; with `dnssec` the queries carry EDNS0 with DO (also
/// over TCP) and the AD flag of the answer is returned.
pub fn query_txt_dnssec(
    addr: SocketAddr,
    name: &str,
    timeout: Duration,
    dnssec: bool,
) -> Result<(TxtResponse, bool), DnsError> {
    let id = random_id();
    let mut q = build_txt_query(id, name, true, Some(EDNS_PAYLOAD))
        .map_err(|e| DnsError::Malformed(format!("cannot query {name:?}: {e:?}")))?;
    if dnssec {
        set_do_bit(&mut q);
    }
    let raw = udp_exchange(addr, &q, timeout)?;
    let resp = parse_txt_response(&raw).map_err(|e| DnsError::Malformed(format!("{e:?}")))?;
    if !resp.truncated {
        return Ok((resp, ad_flag(&raw)));
    }
    let q = if dnssec {
        q
    } else {
        build_txt_query(id, name, true, None).map_err(|e| DnsError::Malformed(format!("{e:?}")))?
    };
    let raw = tcp_exchange(addr, &q, timeout)?;
    let resp = parse_txt_response(&raw).map_err(|e| DnsError::Malformed(format!("{e:?}")))?;
    if resp.id != id {
        return Err(DnsError::Malformed("TCP response ID mismatch".into()));
    }
    Ok((resp, ad_flag(&raw)))
}

/// The pool's view of a response: data, absence, or a failure. REFUSED
/// counts as absence: an authoritative node refuses names outside its
/// zone, which says nothing about its health.
pub fn classify(resp: Result<TxtResponse, DnsError>) -> Reply {
    match resp {
        Ok(r) if r.rcode == 0 && !r.values.is_empty() => Reply::Answer(r.values),
        Ok(r) if matches!(r.rcode, 0 | 3 | 5) => Reply::NotFound,
        _ => Reply::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn do_bit_lands_in_the_opt_flags() {
        let mut q = build_txt_query(7, "a.example", true, Some(EDNS_PAYLOAD)).unwrap();
        let before = q.clone();
        set_do_bit(&mut q);
        let n = q.len();
        assert_eq!(q[n - 4], 0x80);
        assert_eq!(q[..n - 4], before[..n - 4]);
        // Without an OPT RR nothing changes.
        let mut plain = build_txt_query(7, "a.example", true, None).unwrap();
        let copy = plain.clone();
        set_do_bit(&mut plain);
        assert_eq!(plain, copy);
        assert!(ad_flag(&[0, 0, 0, 0x20]) && !ad_flag(&[0, 0, 0x20, 0]));
    }
}
