//! Extractors of `/api/v1`: request parts parsed into typed values once, here, with our JSON
//! 400s (naming the field) instead of axum's plain-text rejections.
//!
//! - [`JsonBody`]: a JSON body; serde's complaint becomes `{"field": <path>, …}`.
//! - [`OptionalJsonBody`]: the same, or the default when the body is empty.
//! - [`QueryParams`]: a query string; the same for its parameters.
//! - [`Consistency`] (from `ops`): `?consistency=local|linearizable`, default local.

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::FromRequest;
use axum::extract::FromRequestParts;
use axum::extract::Query;
use axum::extract::Request;
use axum::http::request::Parts;
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde::Serialize;
use serde_json::Value;

use super::error::ApiError;
pub use crate::ops::Consistency;

/// `Json<T>` whose rejections are our JSON `ApiError` 400s, naming the field when serde says
/// which one (`missing field`, `unknown field`, a wrongly typed value), else `body`.
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(JsonBody(v)),
            Err(r) => Err(json_rejection(&r)),
        }
    }
}

/// A JSON body that may be left out: an empty body (with any or no `Content-Type`) is
/// `T::default()`; anything else is parsed like [`JsonBody`] (a `Content-Type` is not required).
pub struct OptionalJsonBody<T>(pub T);

impl<T, S> FromRequest<S> for OptionalJsonBody<T>
where
    T: DeserializeOwned + Default + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|r| ApiError::bad("body", r.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(T::default()));
        }
        from_json_bytes(&bytes).map(OptionalJsonBody)
    }
}

/// `bytes` parsed as JSON into `T`, refused like [`JsonBody`] refuses a body (naming the field).
pub fn from_json_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    Json::<T>::from_bytes(bytes).map(|Json(v)| v).map_err(|r| json_rejection(&r))
}

/// `v` parsed into `T`, refusing fields `T` does not have: a field of the input that `T`'s own
/// encoding of the result lacks (at any depth of objects) is a typo the parse would have
/// dropped silently, e.g. `passwrod` leaving a channel without its password. For the `alerts`
/// crate's config types, which ignore unknown fields.
pub fn from_json_strict<T: Serialize + DeserializeOwned>(v: Value) -> Result<T, ApiError> {
    let bytes = serde_json::to_vec(&v).map_err(|e| ApiError::bad("body", e.to_string()))?;
    let parsed: T = from_json_bytes(&bytes)?;
    let back = serde_json::to_value(&parsed).map_err(|e| ApiError::Internal(format!("re-encoding a body: {e}")))?;
    match unknown_field(&v, &back, "") {
        Some(field) => Err(ApiError::bad(&field, "unknown field")),
        None => Ok(parsed),
    }
}

/// The first key path of `input` that `known` does not have.
fn unknown_field(input: &Value, known: &Value, at: &str) -> Option<String> {
    let (Value::Object(i), Value::Object(k)) = (input, known) else { return None };
    i.iter().find_map(|(key, v)| {
        let path = if at.is_empty() { key.clone() } else { format!("{at}.{key}") };
        match k.get(key) {
            None => Some(path),
            Some(kv) => unknown_field(v, kv, &path),
        }
    })
}

fn json_rejection(r: &JsonRejection) -> ApiError {
    match r {
        JsonRejection::JsonDataError(e) => {
            let text = e.body_text();
            let detail = text.split_once("target type: ").map_or(text.as_str(), |(_, d)| d).to_string();
            ApiError::bad(&field_of(&detail), detail)
        }
        JsonRejection::JsonSyntaxError(e) => ApiError::bad("body", format!("malformed JSON: {}", e.body_text())),
        JsonRejection::MissingJsonContentType(_) => ApiError::bad("body", "Content-Type must be application/json"),
        other => ApiError::bad("body", other.body_text()),
    }
}

/// The field a serde error is about: its path (`trigger`, `misfire.cap`), extended by the name
/// in a `missing field`/`unknown field` message.
pub fn field_of(detail: &str) -> String {
    let (path, message) = split_path(detail);
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|pre| message.split_once(pre).and_then(|(_, rest)| rest.split_once('`')).map(|(n, _)| n));
    let field = match named {
        Some(n) if path.is_empty() => n.to_string(),
        Some(n) if path == n || path.ends_with(&format!(".{n}")) => path.to_string(),
        Some(n) => format!("{path}.{n}"),
        None => path.to_string(),
    };
    if field.is_empty() {
        "body".into()
    } else {
        field
    }
}

/// `path: message` as serde_path_to_error writes it (`("", detail)` without a path).
fn split_path(detail: &str) -> (&str, &str) {
    match detail.split_once(": ") {
        Some((p, m)) if !p.is_empty() && !p.contains(' ') => (p.trim_start_matches('.'), m),
        _ => ("", detail),
    }
}

/// `Query<T>` whose rejections are our JSON 400s: the parameter serde names (else `query`) and
/// the message of its parser (e.g. `"eventual" is not one of local, linearizable`).
pub struct QueryParams<T>(pub T);

impl<T, S> FromRequestParts<S> for QueryParams<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(QueryParams(v)),
            Err(r) => Err(query_rejection(&r)),
        }
    }
}

fn query_rejection(r: &QueryRejection) -> ApiError {
    let text = r.body_text();
    let detail = text.strip_prefix("Failed to deserialize query string: ").unwrap_or(&text);
    match split_path(detail) {
        ("", message) => ApiError::bad("query", message),
        (field, message) => ApiError::bad(field, message),
    }
}

/// `?consistency=local|linearizable` (the OpenAPI face of [`Consistency`]).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// `local` (default): this master's state as it is; `linearizable`: wait until this master
    /// applied everything the leader had committed when the read arrived (ReadIndex).
    #[serde(default)]
    #[param(value_type = Option<String>)]
    pub consistency: Option<Consistency>,
}

impl<S: Send + Sync> FromRequestParts<S> for Consistency {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let QueryParams(q) = QueryParams::<ConsistencyQuery>::from_request_parts(parts, state).await?;
        Ok(q.consistency.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_errors_name_their_field() {
        for (detail, field) in [
            ("missing field `spider` at line 1 column 20", "spider"),
            ("trigger: missing field `expr` at line 1 column 40", "trigger.expr"),
            ("unknown field `colour`, expected one of `project`, `spider`", "colour"),
            ("colour: unknown field `colour`, expected one of `project`", "colour"),
            ("trigger: unknown field `every`, expected `expr` or `timezone`", "trigger.every"),
            ("priority: invalid type: string \"high\", expected i32 at line 1 column 5", "priority"),
            ("misfire.cap: invalid value: integer `-1`, expected u32", "misfire.cap"),
            ("invalid type: map, expected a string at line 1 column 1", "body"),
            ("expected value at line 1 column 1", "body"),
        ] {
            assert_eq!(field_of(detail), field, "{detail}");
        }
    }

    #[test]
    fn strict_bodies_refuse_fields_the_type_does_not_have() {
        #[derive(Debug, Serialize, Deserialize)]
        struct Inner {
            #[serde(default)]
            a: u32,
        }
        #[derive(Debug, Serialize, Deserialize)]
        struct Outer {
            name: String,
            #[serde(default)]
            inner: Option<Inner>,
        }
        let ok: Outer = from_json_strict(serde_json::json!({"name": "x", "inner": {"a": 1}})).expect("parse");
        assert_eq!((ok.name.as_str(), ok.inner.map(|i| i.a)), ("x", Some(1)));
        for (body, field) in [
            (serde_json::json!({"name": "x", "nmae": "y"}), "nmae"),
            (serde_json::json!({"name": "x", "inner": {"b": 1}}), "inner.b"),
            (serde_json::json!({"inner": {}}), "name"),
        ] {
            match from_json_strict::<Outer>(body.clone()) {
                Err(ApiError::BadRequest { field: f, .. }) => assert_eq!(f, field, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    fn query<T: DeserializeOwned>(q: &str) -> Result<T, ApiError> {
        let uri: axum::http::Uri = format!("http://h/x?{q}").parse().expect("uri");
        Query::<T>::try_from_uri(&uri).map(|Query(v)| v).map_err(|r| query_rejection(&r))
    }

    #[test]
    fn query_parameters_are_parsed_once_with_our_errors() {
        let ok: ConsistencyQuery = query("consistency=linearizable&other=1").expect("parse");
        assert_eq!(ok.consistency, Some(Consistency::Linearizable));
        let none: ConsistencyQuery = query("").expect("parse");
        assert_eq!(none.consistency, None);
        match query::<ConsistencyQuery>("consistency=eventual") {
            Err(ApiError::BadRequest { field, message }) => {
                assert_eq!(field, "consistency");
                assert_eq!(message, "\"eventual\" is not one of local, linearizable");
            }
            other => panic!("{:?}", other.map(|q| q.consistency)),
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Limit {
            limit: Option<usize>,
        }
        match query::<Limit>("limit=many") {
            Err(ApiError::BadRequest { field, .. }) => assert_eq!(field, "limit"),
            other => panic!("{other:?}"),
        }
    }
}
