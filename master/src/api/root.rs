//! `GET /`: a person who opens a master in a browser learns where to go (until the dashboard
//! takes this path): HTML for browsers, plain text for everyone else. No auth, no data.

use axum::http::header;
use axum::http::HeaderMap;
use axum::http::HeaderValue;
use axum::response::IntoResponse;
use axum::response::Response;

/// Where the documentation lives (the repository's README and runbook).
const DOCS: &str = "README.md and deploy/README.md in the spider-platform sources";

/// The index as plain text.
pub fn text() -> String {
    format!(
        "spider-platform master\n\
         \n\
         This is a master of a spider-platform cluster; it serves an API, not pages.\n\
         \n\
         - API description (OpenAPI 3, no token needed): /api/v1/openapi.json\n\
         - API calls: /api/v1/... with an `Authorization: Bearer <token>` header\n\
         - Health for load balancers: /healthz (200 when healthy), /leader (200 on the leader)\n\
         - Documentation: {DOCS}\n"
    )
}

/// The index as HTML.
pub fn html() -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>spider-platform master</title></head>\n\
         <body>\n<h1>spider-platform master</h1>\n\
         <p>This is a master of a spider-platform cluster; it serves an API, not pages.</p>\n<ul>\n\
         <li>API description (OpenAPI 3, no token needed): <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a></li>\n\
         <li>API calls: <code>/api/v1/...</code> with an <code>Authorization: Bearer &lt;token&gt;</code> header</li>\n\
         <li>Health for load balancers: <a href=\"/healthz\">/healthz</a> (200 when healthy), \
         <a href=\"/leader\">/leader</a> (200 on the leader)</li>\n\
         <li>Documentation: {DOCS}</li>\n</ul>\n</body></html>\n"
    )
}

/// Whether the client prefers HTML (a browser's `Accept: text/html,…`).
fn wants_html(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').any(|part| {
            let mut it = part.split(';');
            let ty = it.next().unwrap_or("").trim();
            let refused = it.any(|p| p.trim().strip_prefix("q=").is_some_and(|q| q.trim().parse::<f32>() == Ok(0.0)));
            ty.eq_ignore_ascii_case("text/html") && !refused
        })
    })
}

pub async fn index(headers: HeaderMap) -> Response {
    if wants_html(&headers) {
        ([(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))], html()).into_response()
    } else {
        ([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"))], text()).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).expect("header"));
        h
    }

    #[test]
    fn browsers_get_html_and_others_text() {
        assert!(wants_html(&accept("text/html,application/xhtml+xml,*/*;q=0.8")));
        assert!(!wants_html(&accept("*/*")));
        assert!(!wants_html(&accept("text/html;q=0, text/plain")));
        assert!(!wants_html(&HeaderMap::new()));
    }

    #[test]
    fn the_index_points_at_the_api_health_and_docs() {
        for page in [text(), html()] {
            for what in ["/api/v1/openapi.json", "/healthz", "/leader", "deploy/README.md"] {
                assert!(page.contains(what), "{what} missing from {page}");
            }
        }
        assert!(html().contains("<a href=\"/api/v1/openapi.json\">"));
    }
}
