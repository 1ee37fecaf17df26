//! The HTTP contract without running spiders: envelope bytes, errors, methods, auth, bad eggs.

use scrapyd_wire::egg::EggBuilder;

use crate::support::*;

async fn raw(url: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap())
}

#[tokio::test]
async fn daemonstatus_envelope_is_byte_exact() {
    let s = Slave::start().await;
    let (status, headers, body) = raw(&format!("{}/daemonstatus.json", s.url)).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        "{\"pending\": 0, \"running\": 0, \"finished\": 0, \"status\": \"ok\", \"node_name\": \"test-node\"}\n"
    );
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert_eq!(headers["access-control-allow-methods"], "OPTIONS, HEAD, GET");
    assert_eq!(headers["access-control-allow-headers"], "X-Requested-With");
    assert_eq!(headers["content-length"], body.len().to_string().as_str());
}

#[tokio::test]
async fn errors_are_http_200_with_scrapyd_messages() {
    let s = Slave::start().await;
    let (status, _, body) = raw(&format!("{}/listversions.json", s.url)).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        "{\"status\": \"error\", \"message\": \"'project' parameter is required\", \"node_name\": \"test-node\"}\n"
    );
    assert_eq!(s.get("/listversions.json?project=nope").await["versions"], serde_json::json!([]));
    assert_eq!(s.get("/listspiders.json?project=nope").await["message"], "project 'nope' not found");
    assert_eq!(s.get("/listjobs.json?project=nope").await["message"], "project 'nope' not found");
    assert_eq!(s.get("/status.json?job=x").await["currstate"], serde_json::Value::Null);
    assert_eq!(
        s.post("/schedule.json", &[("project", "nope"), ("spider", "s")]).await["message"],
        "project 'nope' not found"
    );
    assert_eq!(
        s.post("/cancel.json", &[("project", "nope"), ("job", "j")]).await["message"],
        "project 'nope' not found"
    );
    assert_eq!(s.post("/delproject.json", &[("project", "nope")]).await["message"], "project 'nope' not found");
    assert_eq!(
        s.post("/delversion.json", &[("project", "nope"), ("version", "1")]).await["message"],
        "version '1' not found"
    );
    assert_eq!(
        s.post("/schedule.json", &[("project", "p"), ("spider", "s"), ("priority", "x")]).await["message"],
        "priority is invalid: could not convert string to float: b'x'"
    );
    assert_eq!(
        s.post("/schedule.json", &[("project", "p"), ("spider", "s"), ("jobid", "../x")]).await["message"],
        "DirectoryTraversalError: ../x"
    );
    assert_eq!(s.get("/listversions.json?project=../p").await["message"], "DirectoryTraversalError: ../p");
    assert_eq!(
        s.post("/delversion.json", &[("project", "../p"), ("version", "1")]).await["message"],
        "DirectoryTraversalError: ../p"
    );
    // Body beats query; the first of repeated values wins; a JSON body is ignored.
    let c = reqwest::Client::new();
    let v: serde_json::Value = c
        .post(format!("{}/schedule.json?project=fromquery&spider=s", s.url))
        .form(&[("project", "frombody"), ("project", "second")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["message"], "project 'frombody' not found");
    let v: serde_json::Value = c
        .post(format!("{}/cancel.json", s.url))
        .header("content-type", "application/json")
        .body(r#"{"project": "p", "job": "j"}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["message"], "'project' parameter is required");
    let bad = reqwest::get(format!("{}/listversions.json?project=%ff", s.url)).await.unwrap().text().await.unwrap();
    assert!(
        bad.contains("project is invalid: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"),
        "{bad}"
    );
}

#[tokio::test]
async fn methods_options_and_404() {
    let s = Slave::start().await;
    let c = reqwest::Client::new();
    let r = c.get(format!("{}/schedule.json?project=p&spider=s", s.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["message"], "UnsupportedMethod: Expected one of [b'HEAD', b'OPTIONS', b'POST']");
    let v = s.post("/listprojects.json", &[]).await;
    assert_eq!(v["message"], "UnsupportedMethod: Expected one of [b'HEAD', b'OPTIONS', b'GET']");
    let r = c.request(reqwest::Method::OPTIONS, format!("{}/schedule.json", s.url)).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["allow"], "OPTIONS, HEAD, POST");
    assert_eq!(r.headers()["access-control-allow-methods"], "OPTIONS, HEAD, POST");
    let r = c.head(format!("{}/daemonstatus.json", s.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    for path in ["/daemonstatus.json/", "/nope", "/listjobs"] {
        let (status, headers, body) = raw(&format!("{}{path}", s.url)).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(headers["content-type"], "text/html; charset=utf-8");
        assert_eq!(
            body,
            "\n<html>\n  <head><title>404 - No Such Resource</title></head>\n  <body>\n    <h1>No Such Resource</h1>\n    <p>Sorry. No luck finding that resource.</p>\n  </body>\n</html>\n"
        );
    }
}

#[tokio::test]
async fn basic_auth_covers_every_path() {
    let s = Slave::start_with(|c| {
        c.username = "u".into();
        c.password = "secret".into();
    })
    .await;
    let c = reqwest::Client::new();
    for path in ["/daemonstatus.json", "/", "/jobs", "/logs/", "/nope"] {
        for auth in [None, Some(("u", "wrong")), Some(("x", "secret"))] {
            let mut rb = c.get(format!("{}{path}", s.url));
            if let Some((u, p)) = auth {
                rb = rb.basic_auth(u, Some(p));
            }
            let r = rb.send().await.unwrap();
            assert_eq!(r.status(), 401, "{path} {auth:?}");
            assert_eq!(r.headers()["www-authenticate"], "basic realm=\"Scrapyd\"");
            assert_eq!(r.headers()["content-type"], "text/html");
            assert_eq!(r.text().await.unwrap(), "Unauthorized");
        }
    }
    let r = c.request(reqwest::Method::OPTIONS, format!("{}/schedule.json", s.url)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = c.get(format!("{}/daemonstatus.json", s.url)).basic_auth("u", Some("secret")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

/// A deflated ZIP of `entries` (the bomb below relies on deflate).
fn zip_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
    entries.iter().fold(EggBuilder::new(), |egg, (name, data)| egg.file(*name, data)).build().unwrap()
}

#[tokio::test]
async fn bad_eggs_are_refused_and_nothing_is_written() {
    let s = Slave::start_with(|c| {
        c.max_egg_size = 64 * 1024;
        c.max_egg_unpacked = 1024 * 1024;
    })
    .await;
    let good = zip_with(&[("EGG-INFO/entry_points.txt", b"[scrapy]\nsettings = x.settings\n")]);
    let v = deploy_bytes(&s.url, "../p", "1", good.clone()).await;
    assert_eq!(v["message"], "DirectoryTraversalError: ../p");
    let v = deploy_bytes(&s.url, "p", "1", b"definitely not a zip".to_vec()).await;
    assert_eq!(v["message"], "egg is not a ZIP file (if using curl, use egg=@path not egg=path)");
    let v = deploy_bytes(&s.url, "p", "1", vec![b'x'; 100 * 1024]).await;
    assert!(v["message"].as_str().unwrap().starts_with("EggTooLargeError: egg is 102400 bytes"), "{v}");
    let bomb = zip_with(&[
        ("EGG-INFO/entry_points.txt", b"[scrapy]\nsettings = x\n"),
        ("bomb.bin", &vec![0u8; 4 * 1024 * 1024]),
    ]);
    assert!(bomb.len() < 64 * 1024);
    let v = deploy_bytes(&s.url, "p", "1", bomb).await;
    assert!(v["message"].as_str().unwrap().contains("ZIP bomb"), "{v}");
    let v = deploy_bytes(&s.url, "p", "1", zip_with(&[("x/__init__.py", b"")])).await;
    assert!(v["message"].as_str().unwrap().starts_with("BadEggError: "), "{v}");
    assert!(!s.path("eggs/p").exists() && !s.path("p").exists());
    assert_eq!(s.get("/listprojects.json").await["projects"], serde_json::json!([]));
    let v = s.post("/delproject.json", &[("project", "../p")]).await;
    assert_eq!(v["message"], "DirectoryTraversalError: ../p");
}
