//! The oslo.messaging wire format (`oslo.version` 2.0).
//!
//! Request: `{"oslo.version": "2.0", "oslo.message": "<JSON string>"}` where the
//! inner object carries `method`, `args`, `version`, `namespace`, `_unique_id`,
//! `_msg_id`/`_reply_q` for calls and the `_context_*` keys.
//! Reply: the inner object is `{"result", "failure", "ending", "_msg_id"}`.

use nova_common::context::{Lenient, WireContext};
use nova_common::{NovaError, RequestContext};
use serde::de::{DeserializeOwned, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::borrow::Cow;
use uuid::Uuid;

pub const OSLO_VERSION: &str = "2.0";

/// The outer object around the inner JSON text: `{"oslo.message": "<inner>",
/// "oslo.version": "2.0"}`, keys in that (sorted) order, compact, as
/// serde_json writes it: the inner text is escaped once, straight into the
/// message.
fn wrap_text(inner: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(inner.len() + inner.len() / 8 + 48);
    out.extend_from_slice(b"{\"oslo.message\":");
    write_json_str(&mut out, inner);
    out.extend_from_slice(b",\"oslo.version\":\"");
    out.extend_from_slice(OSLO_VERSION.as_bytes());
    out.extend_from_slice(b"\"}");
    out
}

/// `s` as a JSON string (quoted and escaped exactly as serde_json does).
fn write_json_str(out: &mut Vec<u8>, s: &str) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// The outer object of a message; anything but a string `oslo.message` means
/// an unwrapped (oslo.version 1) message.
#[derive(Deserialize)]
struct Outer {
    #[serde(rename = "oslo.message", default)]
    message: Option<Value>,
}

/// Whether JSON text is an object (serde's derived structs take arrays too).
fn is_object(text: &[u8]) -> bool {
    text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// The inner JSON text of a message (the body itself when it is not wrapped).
fn inner_text(body: &[u8]) -> Result<String, NovaError> {
    if !is_object(body) {
        return Err(NovaError::internal("RPC message is not a JSON object"));
    }
    if let Some(inner) = inner_text_fast(body) {
        return Ok(inner);
    }
    let outer: Outer = serde_json::from_slice(body)?;
    match outer.message {
        Some(Value::String(s)) => Ok(s),
        _ => String::from_utf8(body.to_vec())
            .map_err(|_| NovaError::internal("RPC message is not UTF-8")),
    }
}

/// The inner text of a message exactly as [`wrap_text`] writes it, unescaped
/// in one pass over runs of plain bytes; `None` for anything else (another
/// key order or spacing, a `\\u` escape, a control character, trailing
/// text), which the general parser then reads or refuses.
fn inner_text_fast(body: &[u8]) -> Option<String> {
    const HEAD: &[u8] = b"{\"oslo.message\":\"";
    let rest = body.strip_prefix(HEAD)?;
    // Bytes that end a run of plain ones: '"', '\\' and control characters.
    const STOP: [bool; 256] = {
        let mut t = [false; 256];
        let mut b = 0;
        while b < 0x20 {
            t[b] = true;
            b += 1;
        }
        t[b'"' as usize] = true;
        t[b'\\' as usize] = true;
        t
    };
    // Eight bytes at a time: each word is copied whole into a zeroed buffer
    // with room to spare, and the output advances by the plain bytes before
    // the first stop byte in it. The runs between escapes are short in JSON
    // text (every key and string is quoted), so a copy call per run, or a
    // check per byte, would cost more than the bytes themselves.
    let mut out = vec![0u8; rest.len() + 8];
    let mut o = 0;
    let mut i = 0;
    loop {
        while let (Some(word), Some(dst)) = (rest.get(i..i + 8), out.get_mut(o..o + 8)) {
            dst.copy_from_slice(word);
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            let stops = stop_bytes(u64::from_le_bytes(w));
            let plain = (stops.trailing_zeros() / 8) as usize;
            if plain == 8 {
                i += 8;
                o += 8;
                continue;
            }
            // The commonest stop, an escaped quote (every key and string
            // of the inner JSON has two) or backslash, is unescaped here,
            // over the copied backslash, without leaving the loop.
            if w[plain] == b'\\' {
                if let Some(&c @ (b'"' | b'\\')) = rest.get(i + plain + 1) {
                    dst[plain] = c;
                    i += plain + 2;
                    o += plain + 1;
                    continue;
                }
            }
            i += plain;
            o += plain;
            break;
        }
        while let Some(&b) = rest.get(i) {
            if STOP[b as usize] {
                break;
            }
            *out.get_mut(o)? = b;
            o += 1;
            i += 1;
        }
        match *rest.get(i)? {
            b'"' => break,
            b'\\' => {
                let unescaped = match *rest.get(i + 1)? {
                    b'"' => b'"',
                    b'\\' => b'\\',
                    b'/' => b'/',
                    b'b' => 0x08,
                    b'f' => 0x0c,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    _ => return None,
                };
                *out.get_mut(o)? = unescaped;
                o += 1;
                i += 2;
            }
            _ => return None,
        }
    }
    let tail = &rest[i + 1..];
    let expected = [b",\"oslo.version\":\"", OSLO_VERSION.as_bytes(), b"\"}"].concat();
    if tail != expected.as_slice() {
        return None;
    }
    out.truncate(o);
    String::from_utf8(out).ok()
}

/// The high bit of each byte of `x` (little endian) that is '"', '\\' or a
/// control character; exact for the lowest such byte, which is all the
/// caller reads (a borrow only carries upwards from a flagged byte).
fn stop_bytes(x: u64) -> u64 {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(LO) & !v;
    let quote = zero(x ^ (LO * b'"' as u64));
    let backslash = zero(x ^ (LO * b'\\' as u64));
    let control = x.wrapping_sub(LO * 0x20) & !x;
    (quote | backslash | control) & HI
}

/// Everything a request message carries besides method and args.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestMeta {
    pub ctx: RequestContext,
    pub version: String,
    pub namespace: Option<String>,
    pub unique_id: String,
    pub msg_id: Option<String>,
    pub reply_q: Option<String>,
}

/// A request to send: its method, and its `{"method": ..., "args": ...}`
/// object's members as compact JSON text, escaped as the envelope's string
/// holds them. Serialised once, straight from the request's type, where a
/// JSON tree of it was built, its arguments copied into the message's tree
/// and that tree written.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    method: String,
    members: String,
}

impl Call {
    /// `call`, an object of `method` and `args` (a service's `Request`).
    pub fn new<T: Serialize + ?Sized>(method: &str, call: &T) -> Result<Call, NovaError> {
        let text = to_json_text(call)?.0;
        let members = text
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .ok_or_else(|| NovaError::internal(format!("RPC call {method} is not an object")))?;
        Ok(Call {
            method: method.to_string(),
            members: members.to_string(),
        })
    }

    /// A call given as a tree (tools and tests): its `method` and `args`
    /// (`{}` when it has none); any other member is not part of a call.
    pub fn from_value(call: &Value) -> Result<Call, NovaError> {
        let method = call.get("method").cloned().unwrap_or(Value::Null);
        let args = call.get("args").cloned().unwrap_or_else(|| json!({}));
        Call::new(
            method.as_str().unwrap_or("?"),
            &json!({"args": args, "method": method}),
        )
    }

    pub fn method(&self) -> &str {
        &self.method
    }
}

/// The members of object `v` as compact JSON text escaped for the
/// envelope, without the object's braces.
fn escaped_members<T: Serialize>(v: &T) -> String {
    let text = to_json_text(v).map(|t| t.0).unwrap_or_default();
    text.get(1..text.len().saturating_sub(1))
        .unwrap_or_default()
        .to_string()
}

/// Encode a request: the message's own members (context, ids) before the
/// call's, then `namespace` and `version`, as a sorted tree would order them
/// (the call's `method` and `args` are in the order its type writes them).
pub fn encode_request(call: &Call, meta: &RequestMeta) -> Vec<u8> {
    #[derive(Serialize)]
    struct Ids<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        _msg_id: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        _reply_q: Option<&'a str>,
        _unique_id: &'a str,
    }
    #[derive(Serialize)]
    struct Tail<'a> {
        namespace: Option<&'a str>,
        version: &'a str,
    }
    let parts = [
        escaped_members(&meta.ctx.wire()),
        escaped_members(&Ids {
            _msg_id: meta.msg_id.as_deref(),
            _reply_q: meta.reply_q.as_deref(),
            _unique_id: &meta.unique_id,
        }),
        call.members.clone(),
        escaped_members(&Tail {
            namespace: meta.namespace.as_deref(),
            version: &meta.version,
        }),
    ];
    let mut out = Vec::with_capacity(parts.iter().map(String::len).sum::<usize>() + 64);
    out.extend_from_slice(b"{\"oslo.message\":\"{");
    for (i, part) in parts.iter().filter(|p| !p.is_empty()).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(part.as_bytes());
    }
    out.extend_from_slice(b"}\",\"oslo.version\":\"");
    out.extend_from_slice(OSLO_VERSION.as_bytes());
    out.extend_from_slice(b"\"}");
    out
}

/// The inner (unwrapped) request object as a tree; golden tests pin this.
pub fn request_inner(call: &Value, meta: &RequestMeta) -> Value {
    let text = Call::from_value(call)
        .map(|c| encode_request(&c, meta))
        .and_then(|body| inner_text(&body));
    text.ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

/// A received request's method and the JSON text of its arguments. The
/// endpoint decodes them into its service's typed request
/// ([`RequestCall::request`]) straight from the text: no JSON tree of the
/// message is built on the way.
#[derive(Debug)]
pub struct RequestCall {
    method: Option<String>,
    args: Option<Box<RawValue>>,
}

impl RequestCall {
    /// The method's name ("?" when the message has none).
    pub fn method(&self) -> &str {
        self.method.as_deref().unwrap_or("?")
    }

    /// The request as `R`, an enum tagged by `method` with its `args`
    /// (the services' `Request`): read from `{"method": ..., "args": ...}`,
    /// method first, so serde reads the arguments into their variant as it
    /// meets them.
    pub fn request<R: DeserializeOwned>(&self) -> Result<R, serde_json::Error> {
        let args = self.args.as_deref().map_or("{}", RawValue::get);
        let mut text = Vec::with_capacity(args.len() + 64);
        text.extend_from_slice(b"{\"method\":");
        match &self.method {
            Some(m) => write_json_str(&mut text, m),
            None => text.extend_from_slice(b"null"),
        }
        text.extend_from_slice(b",\"args\":");
        text.extend_from_slice(args.as_bytes());
        text.push(b'}');
        serde_json::from_slice(&text)
    }

    /// `{"method", "args"}` as a tree (for tests and tools).
    pub fn to_value(&self) -> Value {
        let args = self
            .args
            .as_deref()
            .and_then(|a| serde_json::from_str(a.get()).ok())
            .unwrap_or_else(|| json!({}));
        json!({"method": self.method, "args": args})
    }
}

/// A request's inner object, read in one pass: the members a server needs,
/// the arguments kept as text, the rest read past. A member of the wrong
/// type reads as absent.
struct WireRequest {
    call: RequestCall,
    ctx: WireContext,
    version: Option<String>,
    namespace: Option<String>,
    unique_id: Option<String>,
    msg_id: Option<String>,
    reply_q: Option<String>,
}

impl<'de> Deserialize<'de> for WireRequest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = WireRequest;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an RPC message object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WireRequest, A::Error> {
                let mut w = WireRequest {
                    call: RequestCall {
                        method: None,
                        args: None,
                    },
                    ctx: WireContext::default(),
                    version: None,
                    namespace: None,
                    unique_id: None,
                    msg_id: None,
                    reply_q: None,
                };
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    let text =
                        |map: &mut A| Ok::<_, A::Error>(map.next_value::<Lenient<String>>()?.0);
                    match key.as_ref() {
                        "method" => w.call.method = text(&mut map)?,
                        "args" => w.call.args = Some(map.next_value()?),
                        "version" => w.version = text(&mut map)?,
                        "namespace" => w.namespace = text(&mut map)?,
                        "_unique_id" => w.unique_id = text(&mut map)?,
                        "_msg_id" => w.msg_id = text(&mut map)?,
                        "_reply_q" => w.reply_q = text(&mut map)?,
                        k => {
                            if !w.ctx.read(k, &mut map)? {
                                map.next_value::<IgnoredAny>()?;
                            }
                        }
                    }
                }
                Ok(w)
            }
        }
        d.deserialize_map(Members)
    }
}

/// Decode a request into its call (method and arguments) and the rest.
pub fn decode_request(body: &[u8]) -> Result<(RequestCall, RequestMeta), NovaError> {
    let inner = inner_text(body)?;
    if !is_object(inner.as_bytes()) {
        return Err(NovaError::internal("RPC message is not a JSON object"));
    }
    let w: WireRequest = serde_json::from_str(&inner)?;
    let meta = RequestMeta {
        ctx: w.ctx.finish(),
        version: w.version.unwrap_or_else(|| "1.0".into()),
        namespace: w.namespace,
        unique_id: w.unique_id.unwrap_or_default(),
        msg_id: w.msg_id,
        reply_q: w.reply_q,
    };
    Ok((w.call, meta))
}

pub fn new_unique_id() -> String {
    Uuid::new_v4().simple().to_string()
}

/// A call's result as the reply carries it: its compact JSON text, already
/// escaped as the contents of a JSON string (the reply's inner object is
/// itself a string of the envelope). Made by [`to_json_text`] in one pass
/// from the result's type: no `Value` tree, no second escaping pass over the
/// whole text.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultText(String);

impl ResultText {
    /// The JSON text itself, unescaped (for tests and tools).
    pub fn json(&self) -> String {
        serde_json::from_str(&format!("\"{}\"", self.0)).unwrap_or_default()
    }
}

/// serde_json's compact output, written escaped as JSON string contents:
/// a string's quotes become `\"`, and each of its escapes (`\n`, `\"`,
/// `\u001f`, ...) has its backslash escaped. What a string leaves
/// unescaped (its plain fragments), numbers and punctuation need no escaping
/// in the outer string either, so they are written as they are.
struct EscapedCompact;

impl serde_json::ser::Formatter for EscapedCompact {
    fn begin_string<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b"\\\"")
    }

    fn end_string<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b"\\\"")
    }

    fn write_char_escape<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        escape: serde_json::ser::CharEscape,
    ) -> std::io::Result<()> {
        use serde_json::ser::CharEscape::*;
        const HEX: &[u8; 16] = b"0123456789abcdef";
        match escape {
            Quote => w.write_all(b"\\\\\\\""),
            ReverseSolidus => w.write_all(b"\\\\\\\\"),
            Solidus => w.write_all(b"\\\\/"),
            Backspace => w.write_all(b"\\\\b"),
            FormFeed => w.write_all(b"\\\\f"),
            LineFeed => w.write_all(b"\\\\n"),
            CarriageReturn => w.write_all(b"\\\\r"),
            Tab => w.write_all(b"\\\\t"),
            AsciiControl(b) => w.write_all(&[
                b'\\',
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 0xf) as usize],
            ]),
        }
    }

    fn write_raw_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut quoted = Vec::with_capacity(fragment.len() + 2);
        write_json_str(&mut quoted, fragment);
        w.write_all(&quoted[1..quoted.len() - 1])
    }
}

/// A call's result for its reply ([`ResultText`]): what the server's manager
/// returned, serialised once, straight from its type.
pub fn to_json_text<T: Serialize + ?Sized>(result: &T) -> Result<ResultText, NovaError> {
    let mut out = Vec::with_capacity(128);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, EscapedCompact);
    result.serialize(&mut ser)?;
    // serde_json writes UTF-8, and the escapes are ASCII.
    String::from_utf8(out)
        .map(ResultText)
        .map_err(|_| NovaError::internal("a reply's JSON text is not UTF-8"))
}

/// Encode a reply to `msg_id` with its result ([`to_json_text`]) or failure.
pub fn encode_reply(msg_id: &str, result: &Result<ResultText, NovaError>) -> Vec<u8> {
    encode_reply_with_id(msg_id, &new_unique_id(), result)
}

/// The reply's inner object `{"_msg_id", "_unique_id", "ending", "failure",
/// "result"}`, in that (sorted) order and compact, as a serde_json `Map`
/// would print it, escaped into the envelope around the result's text (which
/// is escaped already).
fn encode_reply_with_id(
    msg_id: &str,
    unique_id: &str,
    result: &Result<ResultText, NovaError>,
) -> Vec<u8> {
    let mut head = Vec::with_capacity(128);
    head.extend_from_slice(b"{\"_msg_id\":");
    write_json_str(&mut head, msg_id);
    head.extend_from_slice(b",\"_unique_id\":");
    write_json_str(&mut head, unique_id);
    head.extend_from_slice(b",\"ending\":true,\"failure\":");
    match result {
        Ok(text) => {
            head.extend_from_slice(b"null,\"result\":");
            // Built from JSON text and ASCII punctuation only.
            let head = String::from_utf8(head).unwrap_or_default();
            let mut out = Vec::with_capacity(text.0.len() + head.len() + 64);
            out.extend_from_slice(b"{\"oslo.message\":");
            write_json_str(&mut out, &head);
            out.pop(); // the closing quote: the result and `}` go inside
            out.extend_from_slice(text.0.as_bytes());
            out.extend_from_slice(b"}\",\"oslo.version\":\"");
            out.extend_from_slice(OSLO_VERSION.as_bytes());
            out.extend_from_slice(b"\"}");
            out
        }
        Err(e) => {
            write_json_str(&mut head, &e.to_failure().to_string());
            head.extend_from_slice(b",\"result\":null}");
            let inner = String::from_utf8(head).unwrap_or_default();
            wrap_text(&inner)
        }
    }
}

/// A successful reply's inner JSON text, decoded into the caller's type
/// with [`ReplyBody::result`] in the caller's task (the reply consumer only
/// reads the `_msg_id`).
#[derive(Debug, Clone, PartialEq)]
pub struct ReplyBody(String);

impl ReplyBody {
    /// The `result` as `T`, parsed once from the text; a `failure` in the
    /// body comes back as its typed error.
    pub fn result<T: DeserializeOwned>(&self) -> Result<T, NovaError> {
        #[derive(Deserialize)]
        #[serde(bound = "T: DeserializeOwned")]
        struct Body<T> {
            #[serde(default)]
            failure: Option<Value>,
            #[serde(default)]
            result: Option<T>,
        }
        let body: Body<T> = serde_json::from_str(&self.0)?;
        if let Some(f) = body.failure {
            return Err(failure_error(&f));
        }
        match body.result {
            Some(r) => Ok(r),
            // A missing or null result is `null` to the caller's type.
            None => Ok(serde_json::from_value(Value::Null)?),
        }
    }
}

fn failure_error(f: &Value) -> NovaError {
    match f {
        Value::String(s) => {
            let f: Value = serde_json::from_str(s).unwrap_or_else(|_| json!({"message": s}));
            NovaError::from_failure(&f)
        }
        f => NovaError::from_failure(f),
    }
}

/// The `_msg_id` of a reply's inner text: read directly where the text
/// starts with it (as [`encode_reply`] writes it), else by a pass over the
/// object that builds nothing.
fn reply_msg_id(inner: &str) -> Result<String, NovaError> {
    const PREFIX: &str = "{\"_msg_id\":\"";
    if let Some(rest) = inner.strip_prefix(PREFIX) {
        if let Some(end) = rest.find(['"', '\\']) {
            if rest.as_bytes()[end] == b'"' {
                return Ok(rest[..end].to_string());
            }
        }
    }
    if !is_object(inner.as_bytes()) {
        return Err(NovaError::internal("RPC message is not a JSON object"));
    }
    #[derive(Deserialize)]
    struct Head {
        #[serde(rename = "_msg_id", default)]
        msg_id: Option<Value>,
    }
    let head: Head = serde_json::from_str(inner)?;
    Ok(head
        .msg_id
        .as_ref()
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string())
}

/// Decode a reply into its msg_id and its body. The body is not parsed
/// here: [`ReplyBody::result`] decodes it (or its failure) into the type the
/// caller expects.
pub fn decode_reply(body: &[u8]) -> Result<(String, ReplyBody), NovaError> {
    let inner = inner_text(body)?;
    let msg_id = reply_msg_id(&inner)?;
    Ok((msg_id, ReplyBody(inner)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trip() {
        let ctx = RequestContext::new("u", "p", vec!["member".into()], false);
        let meta = RequestMeta {
            ctx,
            version: "6.0".into(),
            namespace: None,
            unique_id: "abc".into(),
            msg_id: Some("m1".into()),
            reply_q: Some("reply_x".into()),
        };
        let call = json!({"method": "ping", "args": {"arg": 1}});
        let body = encode_request(&Call::from_value(&call).expect("call"), &meta);
        let outer: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(outer["oslo.version"], "2.0");
        assert!(outer["oslo.message"].is_string());
        let (c2, m2) = decode_request(&body).expect("decode");
        assert_eq!(c2.to_value(), call);
        assert_eq!(m2, meta);
    }

    #[test]
    fn a_request_is_read_leniently_and_its_args_only_by_its_endpoint() {
        // Members of the wrong type read as absent; unknown ones are read past.
        let inner = json!({"method": "ping", "version": 6, "namespace": ["x"],
            "_unique_id": "u", "_msg_id": null, "_reply_q": "q", "extra": {"a": [1]},
            "_context_request_id": "req-7"});
        let body = wrap_text(&inner.to_string());
        let (call, meta) = decode_request(&body).expect("decode");
        assert_eq!(call.method(), "ping");
        assert_eq!(call.to_value(), json!({"method": "ping", "args": {}}));
        assert_eq!(
            (
                meta.version.as_str(),
                meta.namespace,
                meta.msg_id,
                meta.reply_q.as_deref()
            ),
            ("1.0", None, None, Some("q"))
        );
        assert_eq!(meta.ctx.request_id, "req-7");

        #[derive(Debug, PartialEq, Deserialize)]
        #[serde(tag = "method", content = "args")]
        #[allow(non_camel_case_types)]
        enum Api {
            ping {},
            add { a: i64, b: Vec<String> },
        }
        assert_eq!(call.request::<Api>().expect("typed"), Api::ping {});
        // Arguments before the method, as a sorted object puts them.
        let body = wrap_text(r#"{"args":{"b":["\"x\""],"a":-1},"method":"add"}"#);
        let (call, _) = decode_request(&body).expect("decode");
        assert_eq!(
            call.request::<Api>().expect("typed"),
            Api::add {
                a: -1,
                b: vec!["\"x\"".into()]
            }
        );
        // Bad arguments, an unknown or missing method: the endpoint's error.
        for inner in [
            r#"{"method":"add","args":{"a":"one"}}"#,
            r#"{"method":"sub","args":{}}"#,
            r#"{"args":{}}"#,
        ] {
            let (call, _) = decode_request(&wrap_text(inner)).expect("decode");
            assert!(call.request::<Api>().is_err(), "{inner}");
        }
        let (call, _) = decode_request(&wrap_text(r#"{"args":{}}"#)).expect("decode");
        assert_eq!(call.method(), "?");
        // Not an object, or not JSON: refused before any endpoint.
        assert!(decode_request(&wrap_text("[1]")).is_err());
        assert!(decode_request(&wrap_text("{\"method\":")).is_err());
    }

    #[test]
    fn reply_carries_typed_failure() {
        let err = NovaError::InstanceNotFound {
            instance_id: "x".into(),
        };
        let body = encode_reply("m1", &Err(err.clone()));
        let (id, out) = decode_reply(&body).expect("decode");
        assert_eq!(id, "m1");
        assert_eq!(out.result::<Value>(), Err(err.clone()));
        assert_eq!(out.result::<String>(), Err(err));
        let five = to_json_text(&5).expect("text");
        let (_, out) = decode_reply(&encode_reply("m2", &Ok(five))).expect("decode");
        assert_eq!(out.result::<Value>(), Ok(json!(5)));
        assert_eq!(out.result::<i64>(), Ok(5));
        let null = to_json_text(&()).expect("text");
        let (_, out) = decode_reply(&encode_reply("m3", &Ok(null))).expect("decode");
        assert_eq!(out.result::<()>(), Ok(()));
        assert_eq!(out.result::<Option<i64>>(), Ok(None));
    }

    /// The reply as the `Value`-tree encoder wrote it, byte for byte: the
    /// sorted envelope keys, the compact text, the escaping of the inner text.
    fn value_tree_reply(
        msg_id: &str,
        unique_id: &str,
        result: &Result<Value, NovaError>,
    ) -> Vec<u8> {
        let (res, failure) = match result {
            Ok(v) => (v.clone(), Value::Null),
            Err(e) => (Value::Null, Value::from(e.to_failure().to_string())),
        };
        let inner = json!({
            "result": res,
            "failure": failure,
            "ending": true,
            "_msg_id": msg_id,
            "_unique_id": unique_id,
        });
        json!({"oslo.version": OSLO_VERSION, "oslo.message": inner.to_string()})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn requests_are_wrapped_as_their_compact_text_escaped() {
        let inner = json!({
            "method": "instance_get_all_by_filters",
            "args": {"filters": {"name": "quote \" backslash \\ newline \n tab \t nul \u{0} é 💡",
                "regex": {"k\"ey\u{1}": "controls \u{1f}\u{8}\u{c}\r\u{7f} / </script>"}},
                "n": [1, 2.5, -3, null, true, false, {}, []]},
            "_context_roles": ["admin", "member"],
        });
        let meta = RequestMeta {
            ctx: RequestContext::new("u\"1", "p", vec!["admin".into(), "member".into()], true),
            version: "3.0".into(),
            namespace: Some("ns".into()),
            unique_id: "u".into(),
            msg_id: Some("m".into()),
            reply_q: Some("q".into()),
        };
        // A call given as a tree is written as serde_json writes the message's
        // whole tree: every member sorted.
        let body = encode_request(&Call::from_value(&inner).expect("call"), &meta);
        let tree = request_inner(&inner, &meta);
        assert_eq!(tree["args"], inner["args"]);
        assert_eq!(tree["_context_user_id"], "u\"1");
        assert_eq!(body, wrap_text(&tree.to_string()));
        assert_eq!(inner_text(&body).expect("inner"), tree.to_string());
        // A typed call: its method before its args, the same tree.
        #[derive(Serialize)]
        #[serde(tag = "method", content = "args")]
        #[allow(non_camel_case_types)]
        enum Api {
            instance_get_all_by_filters { filters: Value, n: Value },
        }
        let typed = Api::instance_get_all_by_filters {
            filters: inner["args"]["filters"].clone(),
            n: inner["args"]["n"].clone(),
        };
        let call = Call::new("instance_get_all_by_filters", &typed).expect("call");
        let typed_body = encode_request(&call, &meta);
        let text = inner_text(&typed_body).expect("inner");
        assert!(text.contains("\"method\":\"instance_get_all_by_filters\",\"args\":{"));
        assert_eq!(serde_json::from_str::<Value>(&text).expect("json"), tree);
        // Not an object: refused before anything is sent.
        assert!(Call::new("x", &[1]).is_err());
    }

    #[test]
    fn replies_are_byte_compatible_with_the_value_tree_encoder() {
        let result = json!({
            "a": "quote \" backslash \\ newline \n tab \t nul \u{0} é ünïcode 💡",
            "b": [1, 2.5, null, true, {"c": "d"}],
            "e": {"f": -3, "g": "</script>"},
            "key \" with \\ escapes\u{1}": "controls \u{1f}\u{8}\u{c}\r\u{7f} / solidus",
        });
        let text = to_json_text(&result).expect("text");
        assert_eq!(text.json(), result.to_string());
        // Keys that are not strings are written quoted, as serde_json does.
        let numbered: std::collections::BTreeMap<i64, String> =
            [(1, "a\"b".to_string()), (-2, String::new())].into();
        let typed = to_json_text(&numbered).expect("text");
        assert_eq!(
            typed.json(),
            serde_json::to_string(&numbered).expect("json")
        );
        assert_eq!(
            encode_reply_with_id("m0", "u0", &Ok(typed)),
            value_tree_reply(
                "m0",
                "u0",
                &Ok(serde_json::to_value(&numbered).expect("value"))
            )
        );
        assert_eq!(
            encode_reply_with_id("m1", "u1", &Ok(text)),
            value_tree_reply("m1", "u1", &Ok(result))
        );
        let err = NovaError::InstanceNotFound {
            instance_id: "x\"y".into(),
        };
        assert_eq!(
            encode_reply_with_id("m2", "u2", &Err(err.clone())),
            value_tree_reply("m2", "u2", &Err(err))
        );
        let req = json!({"method": "ping", "args": {"s": "a\"b"}});
        let meta = RequestMeta {
            ctx: RequestContext::new("u", "p", vec!["member".into()], false),
            version: "1.0".into(),
            namespace: None,
            unique_id: "abc".into(),
            msg_id: None,
            reply_q: None,
        };
        let inner = request_inner(&req, &meta);
        assert_eq!(
            encode_request(&Call::from_value(&req).expect("call"), &meta),
            json!({"oslo.version": OSLO_VERSION, "oslo.message": inner.to_string()})
                .to_string()
                .into_bytes()
        );
    }

    #[test]
    fn the_fast_unwrap_reads_what_the_general_parser_reads() {
        for inner in [
            r#"{"a":"q\"b\\c/d\n\t\r\u0001 é 💡"}"#,
            "{}",
            "",
            r#"{"x":"\u00e9"}"#,
        ] {
            let body = wrap_text(inner);
            assert_eq!(inner_text(&body).expect("read"), inner);
            let general: Outer = serde_json::from_slice(&body).expect("parses");
            assert_eq!(general.message, Some(Value::String(inner.to_string())));
        }
        // Every special byte at every offset of the eight-byte words, among
        // plain ASCII and multi-byte characters.
        for special in [
            "\"", "\\", "\n", "\u{1}", "\u{1f}", "/", "é", "💡", "\u{7f}", " ",
        ] {
            for len in 0..24 {
                for at in 0..=len {
                    let mut inner: String = "x".repeat(len);
                    inner.insert_str(at, special);
                    let body = wrap_text(&inner);
                    assert_eq!(inner_text(&body).expect("read"), inner);
                    // `\u00XX` escapes are left to the general parser.
                    let fast = inner_text_fast(&body);
                    if special.bytes().all(|b| b >= 0x20 || b == b'\n') {
                        assert_eq!(fast.as_deref(), Some(inner.as_str()));
                    } else {
                        assert_eq!(fast, None);
                    }
                }
            }
        }
        assert_eq!(stop_bytes(u64::from_le_bytes(*b"abcdefgh")), 0);
        assert_eq!(
            stop_bytes(u64::from_le_bytes(*b"ab\"d\\f\ng")).trailing_zeros() / 8,
            2
        );
        // What it does not take goes to the general parser.
        let spaced = json!({"oslo.version": "2.0", "oslo.message": "{}"}).to_string();
        assert_eq!(inner_text(spaced.as_bytes()).expect("read"), "{}");
        assert!(inner_text_fast(br#"{"oslo.message":"\u0041","oslo.version":"2.0"}"#).is_none());
        assert_eq!(
            inner_text(br#"{"oslo.message":"\u0041","oslo.version":"2.0"}"#).expect("read"),
            "A"
        );
        assert!(inner_text_fast(br#"{"oslo.message":"{}","oslo.version":"2.0"} x"#).is_none());
        assert!(inner_text(br#"{"oslo.message":"{}","oslo.version":"2.0"} x"#).is_err());
        assert!(inner_text(b"{\"oslo.message\":\"a\nb\",\"oslo.version\":\"2.0\"}").is_err());
    }

    #[test]
    fn replies_from_other_encoders_decode() {
        // Keys in another order, a failure as an object, an unwrapped (oslo.version 1) reply.
        let inner = json!({"result": [1, 2], "ending": true, "failure": null, "_msg_id": "m9"});
        let body = json!({"oslo.version": "2.0", "oslo.message": inner.to_string()}).to_string();
        let (id, out) = decode_reply(body.as_bytes()).expect("decode");
        assert_eq!(id, "m9");
        assert_eq!(out.result::<Vec<i64>>(), Ok(vec![1, 2]));
        let err = NovaError::InstanceNotFound {
            instance_id: "x".into(),
        };
        let v1 = json!({"_msg_id": "m8", "failure": err.to_failure(), "result": null}).to_string();
        let (id, out) = decode_reply(v1.as_bytes()).expect("decode");
        assert_eq!(id, "m8");
        assert_eq!(out.result::<Value>(), Err(err));
        // A msg_id with an escape takes the general path.
        let inner = r#"{"_msg_id":"a\u0062c","result":1}"#;
        let body = json!({"oslo.message": inner}).to_string();
        let (id, out) = decode_reply(body.as_bytes()).expect("decode");
        assert_eq!(id, "abc");
        assert_eq!(out.result::<i64>(), Ok(1));
        assert!(decode_reply(b"[1]").is_err());
    }
}
