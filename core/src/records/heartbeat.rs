//! Heartbeat record (`v=dmp1;t=heartbeat;`, PROTOCOL.md §2.10): a node's
//! signed "I am <endpoint>, run by <operator_spk>, alive as of <ts>",
//! published at `_dnsmesh-heartbeat.<zone>` and gossiped at
//! `_dnsmesh-seen.<zone>`. Self-authenticating (the operator key is
//! embedded) and short-lived.
//!
//! The endpoint is an SSRF-sensitive URL that crawlers will fetch, so its
//! rules are enforced on sign and on parse. They reproduce what the
//! reference's `urllib.parse.urlsplit` + `ipaddress` checks (CPython 3.11.7)
//! accept, quirks included, without a URL crate.

use alloc::string::String;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::crypto::{SIGNATURE_LEN, Signer25519, split_signature, verify};
use crate::error::{Error, Result};
use crate::records::cluster::{decode_capped_wire, encode_capped_wire};
use crate::wire::{PREFIX_HEARTBEAT, Reader};

/// Magic of every heartbeat signed today.
pub const MAGIC: &[u8; 7] = b"DMPHB03";
/// Pre-0.5 magic without the zone field; still parsed (zone = "").
pub const LEGACY_MAGIC: &[u8; 7] = b"DMPHB02";
/// Capability bit 0: the node hosts the first-contact claim namespace.
pub const CAP_CLAIM_PROVIDER: u16 = 0x0001;
pub const MAX_ENDPOINT_LEN: usize = 255;
pub const MAX_VERSION_LEN: usize = 32;
pub const MAX_CLAIM_PROVIDER_ZONE_LEN: usize = 64;
/// Default `|ts − now|` window; some housekeeping callers widen it.
pub const DEFAULT_TS_SKEW_SECS: u64 = 300;
/// Far-future cap on `exp`: 30 days.
pub const MAX_EXP_FUTURE_SECS: u64 = 30 * 86_400;
/// Smallest blob the parser looks at (a legacy body with empty fields,
/// which is one byte shorter than the current format, plus the signature).
const MIN_BLOB: usize = 7 + SIGNATURE_LEN + 2 + 32 + 1 + 2 + 16;
const TS_LIMIT: u64 = 1 << 63;

/// A node heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatRecord {
    /// `http(s)://host[:port]` with nothing after the authority.
    pub endpoint: String,
    /// The operator key (the one that signs cluster and bootstrap records).
    pub operator_spk: [u8; 32],
    /// Free-form ASCII software version, ≤ 32 characters.
    pub version: String,
    /// Bitfield; unknown bits are ignored.
    pub capabilities: u16,
    /// The zone this node serves claims under; empty when not a provider
    /// (and always empty for legacy `DMPHB02` wires).
    pub claim_provider_zone: String,
    pub ts: u64,
    pub exp: u64,
}

fn no_ctl(s: &str) -> bool {
    s.bytes().all(|b| b > 0x20 && b != 0x7f)
}

impl HeartbeatRecord {
    /// Whether the node advertises the claim-provider capability.
    pub fn is_claim_provider(&self) -> bool {
        self.capabilities & CAP_CLAIM_PROVIDER != 0
    }

    fn body(&self) -> Result<Vec<u8>> {
        validate_endpoint(&self.endpoint)?;
        validate_version(&self.version)?;
        if self.ts >= TS_LIMIT || self.exp >= TS_LIMIT {
            return Err(Error::Invalid("ts and exp must be below 2^63"));
        }
        if self.exp <= self.ts {
            return Err(Error::Invalid("exp must be after ts"));
        }
        let zone = &self.claim_provider_zone;
        let printable = zone.is_empty() || (zone.is_ascii() && no_ctl(zone));
        if zone.len() > MAX_CLAIM_PROVIDER_ZONE_LEN || !printable {
            return Err(Error::Invalid(
                "claim_provider_zone must be ≤ 64 printable ASCII characters",
            ));
        }
        let mut body = Vec::with_capacity(96 + self.endpoint.len() + zone.len());
        body.extend_from_slice(MAGIC);
        // Lengths are capped above (255 / 32 / 64).
        body.extend_from_slice(&(self.endpoint.len() as u16).to_be_bytes());
        body.extend_from_slice(self.endpoint.as_bytes());
        body.extend_from_slice(&self.operator_spk);
        body.push(self.version.len() as u8);
        body.extend_from_slice(self.version.as_bytes());
        body.extend_from_slice(&self.capabilities.to_be_bytes());
        body.push(zone.len() as u8);
        body.extend_from_slice(zone.as_bytes());
        body.extend_from_slice(&self.ts.to_be_bytes());
        body.extend_from_slice(&self.exp.to_be_bytes());
        Ok(body)
    }

    /// Sign with the operator key and return the TXT value (`DMPHB03`).
    pub fn to_wire(&self, signer: &Signer25519) -> Result<String> {
        if signer.public() != self.operator_spk {
            return Err(Error::Mismatch("signing key is not operator_spk"));
        }
        let mut blob = self.body()?;
        let sig = signer.sign(&blob);
        blob.extend_from_slice(&sig);
        encode_capped_wire(PREFIX_HEARTBEAT, &blob)
    }

    /// [`Self::parse_and_verify_with_skew`] with the default 300-second window.
    pub fn parse_and_verify(wire: &str, now: u64) -> Result<Self> {
        Self::parse_and_verify_with_skew(wire, DEFAULT_TS_SKEW_SECS, now)
    }

    /// Parse and verify: prefix, cap, strict base64, blob ≥ 124, body
    /// (either magic; endpoint and version rules re-run; `exp > ts`),
    /// signature by the embedded key, `|ts − now| > ts_skew` fails,
    /// `exp ≤ now` fails, `exp` more than 30 days ahead fails.
    pub fn parse_and_verify_with_skew(wire: &str, ts_skew_secs: u64, now: u64) -> Result<Self> {
        let blob = decode_capped_wire(wire, PREFIX_HEARTBEAT)?;
        if blob.len() < MIN_BLOB {
            return Err(Error::Malformed("blob too short"));
        }
        let (body, sig) = split_signature(&blob)?;
        let record = Self::read_body(body)?;
        verify(&record.operator_spk, body, &sig)?;
        if record.ts.abs_diff(now) > ts_skew_secs {
            return Err(Error::Time("ts outside the skew window"));
        }
        if record.exp <= now {
            return Err(Error::Time("expired"));
        }
        if record.exp - now > MAX_EXP_FUTURE_SECS {
            return Err(Error::Time("expiry more than 30 days ahead"));
        }
        Ok(record)
    }

    fn read_body(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        let magic = r.array::<7>()?;
        let legacy = if &magic == MAGIC {
            false
        } else if &magic == LEGACY_MAGIC {
            true
        } else {
            return Err(Error::Malformed("bad magic"));
        };
        let ep_len = usize::from(r.u16()?);
        if ep_len == 0 || ep_len > MAX_ENDPOINT_LEN {
            return Err(Error::Malformed("endpoint length out of range"));
        }
        let endpoint = utf8(r.bytes(ep_len)?, "endpoint is not UTF-8")?;
        let operator_spk = r.array::<32>()?;
        let ver_len = usize::from(r.u8()?);
        if ver_len > MAX_VERSION_LEN {
            return Err(Error::Malformed("version length out of range"));
        }
        let version = utf8(r.bytes(ver_len)?, "version is not UTF-8")?;
        let capabilities = r.u16()?;
        // The zone's character rules are sign-side only; parse needs UTF-8.
        let claim_provider_zone = if legacy {
            String::new()
        } else {
            let zone_len = usize::from(r.u8()?);
            if zone_len > MAX_CLAIM_PROVIDER_ZONE_LEN {
                return Err(Error::Malformed("zone length out of range"));
            }
            utf8(r.bytes(zone_len)?, "zone is not UTF-8")?
        };
        let ts = r.u64()?;
        let exp = r.u64()?;
        r.finish()?;
        validate_endpoint(&endpoint)?;
        validate_version(&version)?;
        if exp <= ts {
            return Err(Error::Invalid("exp must be after ts"));
        }
        Ok(HeartbeatRecord {
            endpoint,
            operator_spk,
            version,
            capabilities,
            claim_provider_zone,
            ts,
            exp,
        })
    }
}

fn utf8(bytes: &[u8], what: &'static str) -> Result<String> {
    core::str::from_utf8(bytes)
        .map(String::from)
        .map_err(|_| Error::Malformed(what))
}

/// Version: ASCII, at most 32 characters.
pub fn validate_version(version: &str) -> Result<()> {
    if version.len() > MAX_VERSION_LEN || !version.is_ascii() {
        return Err(Error::Invalid("version must be ≤ 32 ASCII characters"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Endpoint rules
// ---------------------------------------------------------------------------

/// Check a heartbeat endpoint (§2.10): printable ASCII, ≤ 255 bytes;
/// `http`/`https` (any case); no userinfo; a host; nothing after the
/// authority (a trailing `/` fails, though a bare `?` or `#` with nothing
/// after it passes, as in the reference); not a localhost alias; an IP
/// literal must be public. The port is not checked.
pub fn validate_endpoint(endpoint: &str) -> Result<()> {
    let bad = |what| Err(Error::Invalid(what));
    if endpoint.is_empty() || endpoint.len() > MAX_ENDPOINT_LEN {
        return bad("endpoint must be 1..255 bytes");
    }
    if !endpoint.is_ascii() || !no_ctl(endpoint) {
        return bad("endpoint must be printable ASCII without spaces");
    }
    let parts = split_url(endpoint).ok_or(Error::Invalid("endpoint is not a valid URL"))?;
    if !parts.scheme.eq_ignore_ascii_case("http") && !parts.scheme.eq_ignore_ascii_case("https") {
        return bad("endpoint scheme must be http or https");
    }
    if parts.netloc.contains('@') {
        return bad("endpoint must not carry userinfo");
    }
    let host = url_hostname(parts.netloc);
    if host.is_empty() {
        return bad("endpoint has no host");
    }
    if !parts.after_authority_is_empty {
        return bad("endpoint must not have a path, query or fragment");
    }
    if ["localhost", "localhost.localdomain", "ip6-localhost"]
        .iter()
        .any(|alias| host.eq_ignore_ascii_case(alias))
    {
        return bad("endpoint host is a localhost alias");
    }
    if let Some(ip) = parse_ip_literal(host)
        && !is_public_ip(ip)
    {
        return bad("endpoint host is a non-public IP address");
    }
    Ok(())
}

/// The pieces of `urlsplit` the endpoint rules look at.
struct UrlParts<'a> {
    scheme: &'a str,
    netloc: &'a str,
    /// Path, query and fragment are all empty.
    after_authority_is_empty: bool,
}

/// `urlsplit` for printable ASCII input; `None` where it raises (unbalanced
/// or invalid bracketed hosts).
fn split_url(url: &str) -> Option<UrlParts<'_>> {
    // A scheme is recognized only if it starts with a letter and is made of
    // scheme characters; otherwise the whole string is scheme-less.
    let (scheme, rest) = match url.split_once(':') {
        Some((s, rest))
            if s.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')) =>
        {
            (s, rest)
        }
        _ => ("", url),
    };
    let (netloc, tail) = match rest.strip_prefix("//") {
        Some(after) => after.split_at(after.find(['/', '?', '#']).unwrap_or(after.len())),
        None => ("", rest),
    };
    let (open, close) = (netloc.contains('['), netloc.contains(']'));
    if open != close {
        return None;
    }
    if open && !bracketed_host_ok(bracket_content(netloc)) {
        return None;
    }
    let (before_fragment, fragment) = tail.split_once('#').unwrap_or((tail, ""));
    let (path, query) = before_fragment
        .split_once('?')
        .unwrap_or((before_fragment, ""));
    Some(UrlParts {
        scheme,
        netloc,
        after_authority_is_empty: path.is_empty() && query.is_empty() && fragment.is_empty(),
    })
}

/// The text after the first `[` up to the next `]` (or the end).
fn bracket_content(s: &str) -> &str {
    let after = s.split_once('[').map_or("", |(_, a)| a);
    after.split_once(']').map_or(after, |(inside, _)| inside)
}

/// urllib's check of a bracketed host: an IPvFuture `v<hex>+.<anything>` or
/// an IPv6 address (an IPv4 address in brackets is refused).
fn bracketed_host_ok(host: &str) -> bool {
    if let Some(rest) = host.strip_prefix('v') {
        let hex_len = rest.bytes().take_while(u8::is_ascii_hexdigit).count();
        return hex_len >= 1
            && rest.as_bytes().get(hex_len) == Some(&b'.')
            && rest.len() > hex_len + 1;
    }
    matches!(parse_ip_literal(host), Some(IpAddr::V6(_)))
}

/// `SplitResult.hostname` (before lowercasing): the bracket content, or the
/// authority up to the first `:`.
fn url_hostname(netloc: &str) -> &str {
    let hostinfo = netloc.rsplit_once('@').map_or(netloc, |(_, h)| h);
    if hostinfo.contains('[') {
        bracket_content(hostinfo)
    } else {
        hostinfo.split_once(':').map_or(hostinfo, |(h, _)| h)
    }
}

/// Python's `ipaddress.ip_address` on a string: a strict dotted quad, or an
/// IPv6 address with an optional non-empty `%scope` (which is ignored).
fn parse_ip_literal(s: &str) -> Option<IpAddr> {
    if let Ok(v4) = s.parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(v4));
    }
    let addr = match s.split_once('%') {
        Some((addr, scope)) if !scope.is_empty() && !scope.contains('%') => addr,
        Some(_) => return None,
        None => s,
    };
    addr.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

/// Not loopback, private, link-local, multicast, reserved or unspecified in
/// CPython 3.11.7's `ipaddress` tables (e.g. 100.64.0.0/10 and fec0::/10
/// count as public there).
fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            const BLOCKED: &[(u32, u32)] = &[
                (0x0000_0000, 8),  // 0.0.0.0/8 (incl. unspecified)
                (0x0a00_0000, 8),  // 10/8
                (0x7f00_0000, 8),  // 127/8 loopback
                (0xa9fe_0000, 16), // 169.254/16 link-local
                (0xac10_0000, 12), // 172.16/12
                (0xc000_0000, 29), // 192.0.0.0/29
                (0xc000_00aa, 31), // 192.0.0.170/31
                (0xc000_0200, 24), // 192.0.2/24
                (0xc0a8_0000, 16), // 192.168/16
                (0xc612_0000, 15), // 198.18/15
                (0xc633_6400, 24), // 198.51.100/24
                (0xcb00_7100, 24), // 203.0.113/24
                (0xe000_0000, 4),  // 224/4 multicast
                (0xf000_0000, 4),  // 240/4 reserved (incl. broadcast)
            ];
            let a = u32::from(v4);
            !BLOCKED
                .iter()
                .any(|&(net, len)| (a ^ net).checked_shr(32 - len).unwrap_or(0) == 0)
        }
        IpAddr::V6(v6) => {
            const BLOCKED: &[(u128, u32)] = &[
                (0, 8), // ::/8 reserved: ::, ::1, IPv4-mapped and -compatible
                (0x0100 << 112, 8),
                (0x0200 << 112, 7),
                (0x0400 << 112, 6),
                (0x0800 << 112, 5),
                (0x1000 << 112, 4),
                (0x2001 << 112, 23),                    // 2001::/23
                ((0x2001 << 112) | (0x0db8 << 96), 32), // 2001:db8::/32
                (0x4000 << 112, 3),
                (0x6000 << 112, 3),
                (0x8000 << 112, 3),
                (0xa000 << 112, 3),
                (0xc000 << 112, 3),
                (0xe000 << 112, 4),
                (0xf000 << 112, 5),
                (0xf800 << 112, 6),
                (0xfc00 << 112, 7),  // unique local
                (0xfe00 << 112, 9),  // reserved
                (0xfe80 << 112, 10), // link-local
                (0xff00 << 112, 8),  // multicast
            ];
            let a = u128::from(v6);
            !BLOCKED
                .iter()
                .any(|&(net, len)| (a ^ net).checked_shr(128 - len).unwrap_or(0) == 0)
        }
    }
}
