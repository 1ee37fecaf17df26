//! Twisted-style directory listings for `/logs/…` and `/items/…`.
//!
//! ScrapydWeb requires the `Directory listing for /logs/` text and parses rows shaped as
//! `<tr class="odd|even">` + newline, each cell on its own line; directories come first.

use std::path::Path;

use super::escape;

/// Twisted's `formatFileSize`.
pub fn file_size(size: u64) -> String {
    match size {
        s if s < 1024 => format!("{s}B"),
        s if s < 1024 * 1024 => format!("{}K", s / 1024),
        s if s < 1024 * 1024 * 1024 => format!("{}M", s / (1024 * 1024)),
        s => format!("{}G", s / (1024 * 1024 * 1024)),
    }
}

/// Content type and encoding of a served file, by extension (`text/plain` by default).
pub fn type_and_encoding(name: &str) -> (&'static str, Option<&'static str>) {
    let (stem, encoding) = if let Some(s) = name.strip_suffix(".gz") {
        (s, Some("gzip"))
    } else if let Some(s) = name.strip_suffix(".bz2") {
        (s, Some("bzip2"))
    } else {
        (name, None)
    };
    let ext = stem.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    let ctype = match ext.as_str() {
        "json" => "application/json",
        "html" | "htm" => "text/html",
        "csv" => "text/csv",
        "xml" => "application/xml",
        "css" => "text/css",
        "js" => "text/javascript",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        _ => "text/plain",
    };
    (ctype, encoding)
}

fn url_quote(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The listing page for `dir`, titled with the request path.
pub fn render(dir: &Path, request_path: &str) -> std::io::Result<String> {
    let mut dirs = Vec::new();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(meta) = entry.metadata() else { continue };
        let modified = meta
            .modified()
            .ok()
            .map(|m| chrono::DateTime::<chrono::Local>::from(m).format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default();
        if meta.is_dir() {
            dirs.push((
                name.clone(),
                format!("{}/", url_quote(&name)),
                format!("{}/", escape(&name)),
                String::new(),
                modified,
                "[Directory]".to_string(),
                String::new(),
            ));
        } else {
            let (t, enc) = type_and_encoding(&name);
            files.push((
                name.clone(),
                url_quote(&name),
                escape(&name),
                file_size(meta.len()),
                modified,
                format!("[{t}]"),
                enc.map(|e| format!("[{e}]")).unwrap_or_default(),
            ));
        }
    }
    dirs.sort();
    files.sort();
    let header = format!("Directory listing for {}", escape(request_path));
    let mut rows = String::new();
    for (i, (_, href, text, size, modified, ctype, enc)) in dirs.into_iter().chain(files).enumerate() {
        let class = if i % 2 == 0 { "odd" } else { "even" };
        rows.push_str(&format!(
            "<tr class=\"{class}\">\n    <td><a href=\"{href}\">{text}</a></td>\n    <td>{size}</td>\n    <td>{modified}</td>\n    <td>{ctype}</td>\n    <td>{enc}</td>\n</tr>\n"
        ));
    }
    Ok(format!(
        "<html>\n<head>\n<title>{header}</title>\n<style>\n.even {{ background-color: #eee }}\n.odd {{ background-color: #dedede }}\n</style>\n</head>\n\n<body>\n<h1>{header}</h1>\n\n<table>\n    <thead>\n        <tr>\n            <th>Filename</th>\n            <th>Size</th>\n            <th>Last modified</th>\n            <th>Content type</th>\n            <th>Content encoding</th>\n        </tr>\n    </thead>\n    <tbody>\n{rows}\n    </tbody>\n</table>\n\n</body>\n</html>\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_types() {
        assert_eq!(file_size(429), "429B");
        assert_eq!(file_size(2048), "2K");
        assert_eq!(type_and_encoding("a.log"), ("text/plain", None));
        assert_eq!(type_and_encoding("a.log.gz"), ("text/plain", Some("gzip")));
        assert_eq!(type_and_encoding("stats.json"), ("application/json", None));
    }
}
