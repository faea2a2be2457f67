//! DNS over HTTPS (RFC 8484) and the JSON form public resolvers serve
//! (`application/dns-json`), sans-IO: the HTTP adapter (self-hosted node,
//! edge worker) hands in the method's inputs and gets back status, content
//! type, body and cache lifetime. The answer itself always comes from
//! [`super::answer`], the same function UDP and TCP use.

use alloc::string::String;
use alloc::vec::Vec;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

use super::answer::{Transport, TxtSource, ZoneConfig, answer, answer_json, render_json};
use super::qtype_param;

/// Media type of RFC 8484 wire messages.
pub const DNS_MESSAGE: &str = "application/dns-message";
/// Media type of the JSON form.
pub const DNS_JSON: &str = "application/dns-json";
/// Largest DNS message a DoH request may carry (the TCP framing limit).
pub const MAX_MESSAGE: usize = 65_535;

/// base64url; RFC 8484 says without padding, but a padded value is
/// unambiguous, so it is accepted too.
const B64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A parsed DoH request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DohQuery {
    /// A wire-format DNS query (GET `?dns=` or POST body).
    Wire(Vec<u8>),
    /// The JSON form: `?name=&type=&cd=`.
    Json { name: String, qtype: u16, cd: bool },
}

impl DohQuery {
    /// The name the query asks about, in key form (lower case, no trailing
    /// dot): what an adapter with an async store (the edge worker) must
    /// fetch before [`respond`] answers from it synchronously. `None` when
    /// a wire query has no readable question (the answer is FORMERR).
    pub fn qname(&self) -> Option<String> {
        match self {
            DohQuery::Wire(w) => Message::from_vec(w)
                .ok()?
                .queries
                .first()
                .map(|q| super::normalize_name(&q.name().to_ascii())),
            DohQuery::Json { name, .. } => Some(super::normalize_name(name)),
        }
    }
}

/// Why a DoH request cannot be answered (before any DNS processing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DohError {
    /// 400 with the reason.
    BadRequest(&'static str),
    /// 413: the message is longer than [`MAX_MESSAGE`].
    TooLarge,
    /// 415: a POST that is not `application/dns-message`.
    UnsupportedMediaType,
}

impl DohError {
    /// The HTTP status to send.
    pub fn status(self) -> u16 {
        match self {
            DohError::BadRequest(_) => 400,
            DohError::TooLarge => 413,
            DohError::UnsupportedMediaType => 415,
        }
    }

    /// A JSON error body (`{"error": "..."}`) like the node's other errors.
    pub fn body(self) -> String {
        let msg = match self {
            DohError::BadRequest(m) => m,
            DohError::TooLarge => "DNS message too large",
            DohError::UnsupportedMediaType => {
                "unsupported media type: POST application/dns-message"
            }
        };
        let mut out = String::from("{\"error\": ");
        out.push_str(&crate::node::json_str(msg));
        out.push('}');
        out
    }
}

/// Decodes `%XX` escapes (an invalid escape stays literal); `None` if the
/// result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|x| (*x as char).to_digit(16)),
                b.get(i + 2).and_then(|x| (*x as char).to_digit(16)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The first value of parameter `key` in a raw query string.
fn param(query: &str, key: &str) -> Option<Option<String>> {
    query
        .split('&')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k)? == key).then(|| percent_decode(v))
        })
        .next()
}

fn flag(v: Option<&str>) -> bool {
    matches!(v, Some("1" | "true" | "True" | "TRUE"))
}

/// Parses a GET: `?dns=<base64url>` (RFC 8484) or `?name=&type=&cd=`
/// (JSON form). `query` is the raw query string without `?`.
pub fn parse_get(query: &str) -> Result<DohQuery, DohError> {
    if let Some(dns) = param(query, "dns") {
        let dns = dns.ok_or(DohError::BadRequest("dns parameter is not valid"))?;
        if dns.len() > MAX_MESSAGE.div_ceil(3) * 4 {
            return Err(DohError::TooLarge);
        }
        let wire = B64URL
            .decode(dns.as_bytes())
            .map_err(|_| DohError::BadRequest("dns parameter is not base64url"))?;
        if wire.is_empty() {
            return Err(DohError::BadRequest("dns parameter is empty"));
        }
        return Ok(DohQuery::Wire(wire));
    }
    let Some(name) = param(query, "name") else {
        return Err(DohError::BadRequest(
            "missing query: ?dns=<base64url DNS message> or ?name=<name>&type=<type>",
        ));
    };
    let name = name
        .filter(|n| !n.is_empty() && n.len() <= 255)
        .ok_or(DohError::BadRequest("name parameter is not a DNS name"))?;
    let ty = param(query, "type").map(|t| t.unwrap_or_default());
    let qtype = match ty.as_deref() {
        None | Some("") => Some(1),
        Some(t) => qtype_param(Some(t)),
    }
    .ok_or(DohError::BadRequest(
        "type parameter is not a known RR type",
    ))?;
    let cd = flag(param(query, "cd").flatten().as_deref());
    Ok(DohQuery::Json { name, qtype, cd })
}

/// True when a `Content-Type` is `application/dns-message` (any case,
/// parameters after `;` ignored).
pub fn is_dns_message(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|c| c.split(';').next())
        .map(str::trim)
        .is_some_and(|c| c.eq_ignore_ascii_case(DNS_MESSAGE))
}

/// Parses a POST with its `Content-Type` (parameters after `;` ignored).
pub fn parse_post(content_type: Option<&str>, body: &[u8]) -> Result<DohQuery, DohError> {
    if !is_dns_message(content_type) {
        return Err(DohError::UnsupportedMediaType);
    }
    if body.len() > MAX_MESSAGE {
        return Err(DohError::TooLarge);
    }
    if body.is_empty() {
        return Err(DohError::BadRequest("empty DNS message"));
    }
    Ok(DohQuery::Wire(body.to_vec()))
}

/// A DoH answer ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DohResponse {
    /// 200 for every DNS answer (the DNS status is inside); 400 when the
    /// request was not a usable query.
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// `Cache-Control: max-age`: the smallest TTL of the answer and
    /// authority records (RFC 8484 §5.1); 0 when there are none.
    pub max_age: u32,
    /// The DNS RCODE (for metrics); `None` when there was no DNS answer.
    pub rcode: Option<u8>,
}

/// Answers a parsed DoH request through [`answer`] (as TCP: no size cap
/// below 64 KiB).
pub fn respond(q: &DohQuery, zones: &[ZoneConfig], source: &dyn TxtSource) -> DohResponse {
    match q {
        DohQuery::Wire(wire) => match answer(wire, zones, source, Transport::Tcp) {
            Some(resp) => DohResponse {
                status: 200,
                content_type: DNS_MESSAGE,
                max_age: min_ttl(&resp),
                rcode: resp.get(3).map(|b| b & 0x0F),
                body: resp,
            },
            None => bad(DohError::BadRequest("not a DNS query")),
        },
        DohQuery::Json { name, qtype, cd } => match json_wire(name, *qtype, *cd) {
            Some(wire) => match answer(&wire, zones, source, Transport::Tcp)
                .and_then(|r| Some((render_json(&r)?, r)))
            {
                Some((json, resp)) => DohResponse {
                    status: 200,
                    content_type: DNS_JSON,
                    max_age: min_ttl(&resp),
                    rcode: resp.get(3).map(|b| b & 0x0F),
                    body: json.into_bytes(),
                },
                None => bad(DohError::BadRequest("name parameter is not a DNS name")),
            },
            None => DohResponse {
                status: 400,
                content_type: DNS_JSON,
                body: answer_json(name, *qtype, *cd, zones, source).into_bytes(),
                max_age: 0,
                rcode: None,
            },
        },
    }
}

/// A [`DohResponse`] for a request error.
pub fn bad(e: DohError) -> DohResponse {
    DohResponse {
        status: e.status(),
        content_type: "application/json",
        body: e.body().into_bytes(),
        max_age: 0,
        rcode: None,
    }
}

/// The wire query behind a JSON request (RD set, as public resolvers echo).
fn json_wire(name: &str, qtype: u16, cd: bool) -> Option<Vec<u8>> {
    let mut n = Name::from_ascii(name).ok()?;
    n.set_fqdn(true);
    let mut m = Message::new(0, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.metadata.checking_disabled = cd;
    m.add_query(Query::query(n, RecordType::from(qtype)));
    m.to_vec().ok()
}

/// The smallest TTL among answer and authority records; 0 without any.
pub fn min_ttl(response: &[u8]) -> u32 {
    let Ok(m) = Message::from_vec(response) else {
        return 0;
    };
    m.answers
        .iter()
        .chain(m.authorities.iter())
        .map(|r| r.ttl)
        .min()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_accepts_unpadded_and_padded_base64url() {
        // 13 bytes: unpadded form needs no '=', padded ends in "==".
        let wire = [0xFBu8, 0xFF, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0];
        let enc = "-_8BAAABAAAAAAAAAA";
        assert_eq!(
            parse_get(&alloc::format!("dns={enc}")),
            Ok(DohQuery::Wire(wire.to_vec()))
        );
        assert_eq!(
            parse_get(&alloc::format!("ct=x&dns={enc}==")),
            Ok(DohQuery::Wire(wire.to_vec()))
        );
        assert!(matches!(
            parse_get("dns=+/8B"),
            Err(DohError::BadRequest(_))
        ));
        assert_eq!(
            parse_get("dns="),
            Err(DohError::BadRequest("dns parameter is empty"))
        );
    }

    #[test]
    fn json_params_are_decoded_and_checked() {
        assert_eq!(
            parse_get("name=a%2Eb.test&type=txt&cd=1"),
            Ok(DohQuery::Json {
                name: "a.b.test".into(),
                qtype: 16,
                cd: true
            })
        );
        assert_eq!(
            parse_get("name=x.test"),
            Ok(DohQuery::Json {
                name: "x.test".into(),
                qtype: 1,
                cd: false
            })
        );
        assert_eq!(
            parse_get("name=x.test&type=65"),
            Ok(DohQuery::Json {
                name: "x.test".into(),
                qtype: 65,
                cd: false
            })
        );
        assert!(parse_get("name=x&type=BOGUS").is_err());
        assert!(parse_get("name=").is_err());
        assert!(parse_get("").is_err());
        assert!(parse_get("name=%FF").is_err());
    }

    #[test]
    fn qname_is_the_key_form_of_the_question() {
        let q =
            crate::dns::client::build_txt_query(1, "Slot-1.MB-abc.Mesh.Test", false, None).unwrap();
        assert_eq!(
            DohQuery::Wire(q).qname().as_deref(),
            Some("slot-1.mb-abc.mesh.test")
        );
        assert_eq!(DohQuery::Wire(alloc::vec![0; 12]).qname(), None);
        let j = DohQuery::Json {
            name: "A.Test.".into(),
            qtype: 16,
            cd: false,
        };
        assert_eq!(j.qname().as_deref(), Some("a.test"));
    }

    #[test]
    fn post_needs_the_media_type_and_a_bounded_body() {
        assert_eq!(
            parse_post(Some("text/plain"), b"x"),
            Err(DohError::UnsupportedMediaType)
        );
        assert_eq!(parse_post(None, b"x"), Err(DohError::UnsupportedMediaType));
        assert!(parse_post(Some("Application/DNS-Message; charset=x"), b"abc").is_ok());
        let big = alloc::vec![0u8; MAX_MESSAGE + 1];
        assert_eq!(parse_post(Some(DNS_MESSAGE), &big), Err(DohError::TooLarge));
        assert_eq!(DohError::TooLarge.status(), 413);
        assert_eq!(DohError::UnsupportedMediaType.status(), 415);
    }
}
