//! DNS wire handling shared by every node, DoH path and client (feature `dns`).
//!
//! Sans-IO like the rest of the crate: functions take packets and return
//! packets; the caller owns sockets, the clock (`now`) and the record store
//! (through [`TxtSource`] and [`TsigKeys`]). Message structure is parsed and
//! built with `hickory-proto`; TSIG (RFC 8945) is done here on the raw bytes
//! because the MAC covers the message exactly as transmitted.
//!
//! * [`answer`] / [`answer_json`]: the one query-answering path (RFC 1034,
//!   2308, 6891, 8020) for UDP, TCP and DoH.
//! * [`parse_update`] / [`UpdateRequest::respond`]: RFC 2136 UPDATE with
//!   TSIG hmac-sha256 verification and response signing.
//! * [`doh`]: RFC 8484 and JSON DoH requests, answered through [`answer`].
//! * [`client`]: the matching client-side builders and parsers.

mod answer;
pub mod client;
pub mod doh;
mod raw;
mod tsig;
mod update;

pub use answer::{
    Apex, OUR_UDP_PAYLOAD, Soa, Transport, TxtSource, TxtValue, ZoneConfig, answer, answer_json,
    is_update, qtype_param, render_json, stub_response,
};
pub use tsig::{HMAC_SHA256, TSIG_FUDGE, TsigError, TsigKey, TsigKeys};
pub use update::{
    UpdateOp, UpdateParse, UpdatePolicy, UpdateRequest, authorize_update, parse_update,
};

/// DNS RCODE values used here (RFC 1035, 2136, 8945).
pub mod rcode {
    pub const NOERROR: u8 = 0;
    pub const FORMERR: u8 = 1;
    pub const SERVFAIL: u8 = 2;
    pub const NXDOMAIN: u8 = 3;
    pub const NOTIMP: u8 = 4;
    pub const REFUSED: u8 = 5;
    pub const NOTAUTH: u8 = 9;
    pub const NOTZONE: u8 = 10;
}

/// Lower-cases `name` (ASCII only) and drops one trailing dot: the key form
/// under which owner names are stored and zones are compared.
pub fn normalize_name(name: &str) -> alloc::string::String {
    crate::names::owner_key(name)
}

/// True when `name` equals `zone` or lies below it (both in key form).
pub fn in_zone(name: &str, zone: &str) -> bool {
    if zone.is_empty() {
        return true;
    }
    name == zone
        || (name.len() > zone.len()
            && name.ends_with(zone)
            && name.as_bytes().get(name.len() - zone.len() - 1) == Some(&b'.'))
}
