//! `/`: links to the jobs page and the file trees, then the projects.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Response, StatusCode};

use super::{base_path, escape, html};
use crate::app::App;

pub async fn page(State(app): State<Arc<App>>, headers: HeaderMap) -> Response<Body> {
    let base = base_path(&app, &headers);
    let mut projects = app.projects();
    projects.sort();
    let project_list = if projects.is_empty() {
        "<p>No projects deployed.</p>".to_string()
    } else {
        let items: Vec<String> = projects.iter().map(|p| format!("    <li>{}</li>", escape(p))).collect();
        format!("<p>Projects:</p>\n<ul>\n{}\n</ul>", items.join("\n"))
    };
    let items_link = if app.config.local_items_dir().is_some() {
        format!("\n    <li><a href=\"{base}/items/\">Items</a></li>")
    } else {
        String::new()
    };
    let logs_link = if app.config.logs_dir.is_some() {
        format!("\n    <li><a href=\"{base}/logs/\">Logs</a></li>")
    } else {
        String::new()
    };
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Scrapyd</title>\n</head>\n<body>\n<h1>Scrapyd</h1>\n<p>spider-slave, node {node}</p>\n<ul>\n    <li><a href=\"{base}/jobs\">Jobs</a></li>{items_link}{logs_link}\n    <li><a href=\"{base}/metrics.json\">Host metrics</a></li>\n</ul>\n{project_list}\n<p>Use the JSON API to deploy projects and schedule crawls, e.g. <code>curl http://localhost:6800/schedule.json -d project=default -d spider=somespider</code></p>\n</body>\n</html>\n",
        node = escape(&app.config.node_name),
    );
    html(StatusCode::OK, body)
}
