//! Request parameters the way Twisted's `request.args` sees them.
//!
//! Sources: the query string, plus for POST an `application/x-www-form-urlencoded` or
//! `multipart/form-data` body (a JSON body is ignored). A name present in the body replaces the
//! query's values for that name. Lookups take the first value, except [`Params::all`] (used for
//! `setting`). Values stay bytes until asked for, so `egg` can be binary in either body form.
//! Failures are a [`ParamError`], worded as Scrapyd words them.

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header::CONTENT_TYPE;

/// Why parameters could not be read or a value could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// A required parameter is absent.
    #[error("'{0}' parameter is required")]
    Missing(String),
    /// A value could not be decoded (UTF-8, with Python's wording), or a multipart body or part
    /// was malformed (`name` is `body` when no part is to blame).
    #[error("{name} is invalid: {reason}")]
    Invalid { name: String, reason: String },
    /// The urlencoded body could not be read whole (over the byte limit, or cut off).
    #[error("request body rejected: {0}")]
    BodyRejected(String),
}

type Result<T, E = ParamError> = std::result::Result<T, E>;

/// Parsed parameters, in first-seen name order.
#[derive(Debug, Default)]
pub struct Params {
    entries: Vec<(String, Vec<Vec<u8>>)>,
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes one `application/x-www-form-urlencoded` component (`+` is a space).
pub fn percent_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len() => match (hex(s[i + 1]), hex(s[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// Parses `a=1&b=2` into ordered (name, values) groups. Pairs without `=` are dropped; blank
/// values are kept, as Twisted keeps them.
pub fn parse_urlencoded(body: &[u8]) -> Vec<(String, Vec<Vec<u8>>)> {
    let mut out: Vec<(String, Vec<Vec<u8>>)> = Vec::new();
    for pair in body.split(|b| *b == b'&' || *b == b';') {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => continue,
        };
        let name = String::from_utf8_lossy(&percent_decode(k)).into_owned();
        let value = percent_decode(v);
        push(&mut out, name, value);
    }
    out
}

fn push(out: &mut Vec<(String, Vec<Vec<u8>>)>, name: String, value: Vec<u8>) {
    match out.iter_mut().find(|(n, _)| *n == name) {
        Some((_, vs)) => vs.push(value),
        None => out.push((name, vec![value])),
    }
}

/// Python's wording for a UTF-8 decoding failure.
fn utf8_reason(bytes: &[u8], e: &std::str::Utf8Error) -> String {
    let pos = e.valid_up_to();
    let byte = bytes.get(pos).copied().unwrap_or(0);
    match e.error_len() {
        None => format!("'utf-8' codec can't decode byte 0x{byte:02x} in position {pos}: unexpected end of data"),
        Some(_) if (0x80..0xc2).contains(&byte) || byte >= 0xf5 => {
            format!("'utf-8' codec can't decode byte 0x{byte:02x} in position {pos}: invalid start byte")
        }
        Some(_) => format!("'utf-8' codec can't decode byte 0x{byte:02x} in position {pos}: invalid continuation byte"),
    }
}

/// Python's `repr(bytes)`, for error messages that quote a raw value.
pub fn bytes_repr(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') { '"' } else { '\'' };
    let mut s = format!("b{quote}");
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            c if c as char == quote => {
                s.push('\\');
                s.push(quote);
            }
            0x20..=0x7e => s.push(c as char),
            c => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push(quote);
    s
}

impl Params {
    /// Reads the query and (for urlencoded or multipart requests) the body, up to `limit` bytes.
    pub async fn from_request(req: Request<Body>, limit: usize) -> Result<Params> {
        let mut params =
            Params { entries: req.uri().query().map(|q| parse_urlencoded(q.as_bytes())).unwrap_or_default() };
        let ctype = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
        let body_entries = if ctype.starts_with("application/x-www-form-urlencoded") {
            let bytes = axum::body::to_bytes(req.into_body(), limit)
                .await
                .map_err(|e| ParamError::BodyRejected(e.to_string()))?;
            parse_urlencoded(&bytes)
        } else if ctype.starts_with("multipart/form-data") {
            let mut mp = Multipart::from_request(req, &())
                .await
                .map_err(|e| ParamError::Invalid { name: "body".into(), reason: e.body_text() })?;
            let mut out = Vec::new();
            loop {
                let field = match mp.next_field().await {
                    Ok(Some(f)) => f,
                    Ok(None) => break,
                    Err(e) => return Err(ParamError::Invalid { name: "body".into(), reason: e.body_text() }),
                };
                let name = field.name().unwrap_or("").to_string();
                let data = field
                    .bytes()
                    .await
                    .map_err(|e| ParamError::Invalid { name: name.clone(), reason: e.body_text() })?;
                push(&mut out, name, data.to_vec());
            }
            out
        } else {
            Vec::new()
        };
        for (name, values) in body_entries {
            match params.entries.iter_mut().find(|(n, _)| *n == name) {
                Some((_, vs)) => *vs = values,
                None => params.entries.push((name, values)),
            }
        }
        Ok(params)
    }

    /// Builds params directly (tests, internal callers).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Params {
        let mut entries = Vec::new();
        for (k, v) in pairs {
            push(&mut entries, k.to_string(), v.as_bytes().to_vec());
        }
        Params { entries }
    }

    /// The first raw value of `name`.
    pub fn raw(&self, name: &str) -> Option<&[u8]> {
        self.entries.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.first()).map(Vec::as_slice)
    }

    /// The first value of `name`, decoded as UTF-8.
    pub fn opt(&self, name: &str) -> Result<Option<String>> {
        match self.raw(name) {
            None => Ok(None),
            Some(b) => std::str::from_utf8(b)
                .map(|s| Some(s.to_string()))
                .map_err(|e| ParamError::Invalid { name: name.into(), reason: utf8_reason(b, &e) }),
        }
    }

    /// A required parameter.
    pub fn req(&self, name: &str) -> Result<String> {
        self.opt(name)?.ok_or_else(|| ParamError::Missing(name.into()))
    }

    /// Every value of `name`, decoded.
    pub fn all(&self, name: &str) -> Result<Vec<String>> {
        let Some((_, vs)) = self.entries.iter().find(|(n, _)| n == name) else { return Ok(Vec::new()) };
        vs.iter()
            .map(|b| {
                std::str::from_utf8(b)
                    .map(str::to_string)
                    .map_err(|e| ParamError::Invalid { name: name.into(), reason: utf8_reason(b, &e) })
            })
            .collect()
    }

    /// Parameter names in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencoded_first_value_and_decoding() {
        let p = Params { entries: parse_urlencoded(b"project=a&project=b&x=%41+b&s=1&s=2&bad=%ff&e=") };
        assert_eq!(p.req("project").unwrap(), "a");
        assert_eq!(p.req("x").unwrap(), "A b");
        assert_eq!(p.all("s").unwrap(), ["1", "2"]);
        assert_eq!(p.req("e").unwrap(), "");
        assert_eq!(
            p.req("bad").unwrap_err().to_string(),
            "bad is invalid: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"
        );
        assert_eq!(p.req("nope").unwrap_err().to_string(), "'nope' parameter is required");
        assert_eq!(percent_decode(b"%4"), b"%4");
        assert_eq!(bytes_repr(b"x"), "b'x'");
    }

    fn request(uri: &str, ctype: &str, body: Vec<u8>) -> Request<Body> {
        axum::http::Request::builder()
            .method("POST")
            .uri(uri)
            .header(CONTENT_TYPE, ctype)
            .body(Body::from(body))
            .unwrap()
    }

    #[tokio::test]
    async fn a_body_name_replaces_the_querys_values() {
        let req = request(
            "/schedule.json?project=q&spider=s&project=q2",
            "application/x-www-form-urlencoded",
            b"project=b&setting=A%3D1&setting=B=2".to_vec(),
        );
        let p = Params::from_request(req, 1 << 20).await.unwrap();
        assert_eq!(p.req("project").unwrap(), "b");
        assert_eq!(p.req("spider").unwrap(), "s");
        assert_eq!(p.all("setting").unwrap(), ["A=1", "B=2"]);
        assert_eq!(p.names().collect::<Vec<_>>(), ["project", "spider", "setting"]);
    }

    #[tokio::test]
    async fn multipart_values_stay_bytes_and_json_bodies_are_ignored() {
        let body = b"--X\r\nContent-Disposition: form-data; name=\"egg\"; filename=\"e.egg\"\r\n\r\n\xff\x00\r\n\
--X\r\nContent-Disposition: form-data; name=\"project\"\r\n\r\np\r\n--X--\r\n";
        let p = Params::from_request(
            request("/addversion.json", "multipart/form-data; boundary=X", body.to_vec()),
            1 << 20,
        )
        .await
        .unwrap();
        assert_eq!(p.raw("egg"), Some(&b"\xff\x00"[..]));
        assert_eq!(p.req("project").unwrap(), "p");
        let p =
            Params::from_request(request("/x?a=1", "application/json", b"{\"a\": 2}".to_vec()), 1 << 20).await.unwrap();
        assert_eq!(p.req("a").unwrap(), "1");
    }

    #[tokio::test]
    async fn an_oversized_body_is_rejected() {
        let req = request("/addversion.json", "application/x-www-form-urlencoded", vec![b'a'; 100]);
        let e = Params::from_request(req, 10).await.unwrap_err();
        assert!(matches!(e, ParamError::BodyRejected(_)), "{e:?}");
    }
}
