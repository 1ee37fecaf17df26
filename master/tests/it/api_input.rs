//! Bad input to the nodes, projects and jobs API: a precise 4xx naming the field, and the
//! replicated state unchanged (same digest on every master).

use serde_json::json;
use serde_json::Value;

use crate::fixtures::*;

/// The egg size limit of these tests' masters.
const EGG_LIMIT: usize = 256 * 1024;

fn egg_form(version: &str, egg: Vec<u8>) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .text("version", version.to_string())
        .part("egg", reqwest::multipart::Part::bytes(egg).file_name("x.egg"))
}

/// A ZIP with the given files.
fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
    let egg = files.iter().fold(scrapyd_wire::egg::EggBuilder::new(), |egg, (name, body)| egg.file(*name, body));
    egg.build().expect("zip")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_is_refused_with_the_field_and_changes_nothing() {
    let c = TestCluster::start(3, |cfg| cfg.max_egg_bytes = EGG_LIMIT).await;
    let leader = c.leader().await;
    let f = c.follower(leader);
    let base = format!("{}/api/v1", c.url(f));
    // A new leader's alerter announces its term with one write; the digest is taken after it.
    let term = c.master(leader).metrics().current_term;
    eventually("the alerter's term mark", std::time::Duration::from_secs(20), || async {
        let mark = c.master(leader).state.read(|s| s.alert_engine().and_then(|e| e.leader.as_ref().map(|l| l.term)));
        if mark == Some(term) {
            Ok(())
        } else {
            Err(format!("{mark:?}"))
        }
    })
    .await;
    let before = c.converged(0).await;

    let bad_nodes = [
        (json!({"id": "../x", "url": "http://127.0.0.1:1"}), "id"),
        (json!({"id": "n1", "url": "ftp://h"}), "url"),
        (json!({"id": "n1", "url": "not a url"}), "url"),
        (json!({"id": "n1", "url": "http://u:p@h:1"}), "url"),
        (json!({"id": "n1", "url": "http://h:1", "password": "x"}), "username"),
        (json!({"id": "n1", "url": "http://h:1", "tags": ["a b"]}), "tags"),
        (json!({"id": "n1", "url": "http://h:1", "max_proc": 0}), "max_proc"),
    ];
    for (body, field) in bad_nodes {
        let (s, v) = call(c.http.post(format!("{base}/nodes")).json(&body)).await;
        assert_eq!((s, v["field"].as_str()), (400, Some(field)), "{body}: {v}");
    }
    // Unknown fields and malformed JSON are refused too.
    let (s, _) =
        call(c.http.post(format!("{base}/nodes")).json(&json!({"id": "n", "url": "http://h:1", "x": 1}))).await;
    assert!((400..500).contains(&s), "unknown field: {s}");

    let good_ep = "[scrapy]\nsettings = demo.settings\n";
    let bad_eggs: Vec<(Vec<u8>, &str)> = vec![
        (b"this is not a zip".to_vec(), "not a valid egg"),
        (zip_of(&[("demo/__init__.py", "")]), "entry_points.txt"),
        (zip_of(&[("EGG-INFO/entry_points.txt", "[console_scripts]\nx = y\n")]), "[scrapy]"),
        (zip_of(&[("EGG-INFO/entry_points.txt", good_ep), ("../evil.py", "")]), "escapes"),
    ];
    for (egg, msg) in bad_eggs {
        let (s, v) = call(c.http.post(format!("{base}/projects/demo/versions")).multipart(egg_form("1", egg))).await;
        assert_eq!((s, v["field"].as_str()), (400, Some("egg")), "{v}");
        assert!(v["message"].as_str().is_some_and(|m| m.contains(msg)), "{msg}: {v}");
    }
    let ok_egg = zip_of(&[("EGG-INFO/entry_points.txt", good_ep)]);
    for (project, version, field) in [("..%2Fp", "1", "project"), ("demo", "../1", "version"), ("demo", "", "version")]
    {
        let (s, v) = call(
            c.http.post(format!("{base}/projects/{project}/versions")).multipart(egg_form(version, ok_egg.clone())),
        )
        .await;
        assert_eq!((s, v["field"].as_str()), (400, Some(field)), "{project} {version}: {v}");
    }
    // Over the configured limit: 413, nothing stored. (The body is kept small enough for the
    // client to finish sending before the server answers and closes the connection.)
    let (s, v) = call(
        c.http.post(format!("{base}/projects/demo/versions")).multipart(egg_form("1", vec![0u8; EGG_LIMIT + 1024])),
    )
    .await;
    assert_eq!(s, 413, "{v}");
    // Missing parts.
    let form = reqwest::multipart::Form::new().text("version", "1");
    let (s, v) = call(c.http.post(format!("{base}/projects/demo/versions")).multipart(form)).await;
    assert_eq!((s, v["field"].as_str()), (400, Some("egg")), "{v}");

    // Unknown ids are 404.
    for (m, path) in [
        (reqwest::Method::GET, "/nodes/nope"),
        (reqwest::Method::PATCH, "/nodes/nope"),
        (reqwest::Method::DELETE, "/nodes/nope"),
        (reqwest::Method::GET, "/projects/nope"),
        (reqwest::Method::DELETE, "/projects/nope"),
        (reqwest::Method::DELETE, "/projects/nope/versions/1"),
        (reqwest::Method::GET, "/jobs/nope"),
    ] {
        let mut r = c.http.request(m.clone(), format!("{base}{path}"));
        if m == reqwest::Method::PATCH {
            r = r.json(&json!({"tags": ["x"]}));
        }
        let (s, v) = call(r).await;
        assert_eq!(s, 404, "{m} {path}: {v}");
    }
    assert_eq!(call(c.http.get(format!("{base}/nodes?consistency=eventual"))).await.0, 400);
    // Query parameters are parsed once into enums and numbers; a refusal names the parameter.
    for (query, field, message) in [
        ("/nodes?consistency=eventual", "consistency", Some("\"eventual\" is not one of local, linearizable")),
        ("/jobs?state=done", "state", Some("\"done\" is not one of pending, running, finished, lost")),
        ("/jobs?limit=0", "limit", Some("must be between 1 and 1000")),
        ("/jobs?limit=many", "limit", None),
        ("/schedules/x/fires?before=soon", "before", None),
    ] {
        let (s, v) = call(c.http.get(format!("{base}{query}"))).await;
        assert_eq!(
            (s, v["field"].as_str(), v["error"].as_str()),
            (400, Some(field), Some("bad_request")),
            "{query}: {v}"
        );
        if let Some(m) = message {
            assert_eq!(v["message"].as_str(), Some(format!("{field}: {m}").as_str()), "{query}: {v}");
        }
    }
    for state in ["pending", "running", "finished", "lost"] {
        let (s, v) = call(c.http.get(format!("{base}/jobs?state={state}&consistency=linearizable"))).await;
        assert_eq!((s, v), (200, json!([])), "state={state}");
    }

    // Nothing above changed the replicated state.
    let index = c.node(leader).node.state.last_applied().map(|l| l.index()).unwrap_or(0);
    assert_eq!(c.converged(index).await, before);

    // Wrong or missing credentials: 401 on every resource; the OpenAPI document is public.
    for path in ["/nodes", "/projects", "/jobs", "/cluster"] {
        let r = c.http.get(format!("{base}{path}")).send().await.expect("get");
        assert_eq!(r.status(), 401, "{path} without a token");
        let r = c.http.get(format!("{base}{path}")).bearer_auth("wrong").send().await.expect("get");
        assert_eq!(r.status(), 401, "{path} with a wrong token");
    }
    // Unknown paths are 404 with a valid token, not a cluster-secret refusal.
    for url in [format!("{base}/no-such-resource"), format!("{}/no-such-page", c.url(f))] {
        let r = c.http.get(&url).bearer_auth(ADMIN).send().await.expect("get");
        assert_eq!(r.status(), 404, "{url}");
    }
    let doc: Value = c.http.get(format!("{base}/openapi.json")).send().await.expect("doc").json().await.expect("json");
    for path in [
        "/api/v1/nodes",
        "/api/v1/projects/{project}/versions",
        "/api/v1/jobs/{id}/cancel",
        "/api/v1/cluster",
        "/api/v1/schedules",
        "/api/v1/schedules/{id}/fires",
    ] {
        assert!(doc["paths"][path].is_object(), "openapi lacks {path}");
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_can_be_registered_changed_and_removed_through_any_master() {
    let c = TestCluster::start(3, |_| {}).await;
    let f = c.follower(c.leader().await);
    let base = |id: u64| format!("{}/api/v1", c.url(id));
    let body =
        json!({"id": "n1", "url": "http://127.0.0.1:9/", "username": "u", "password": "hunter2", "tags": ["eu"]});
    let (s, v) = call(c.http.post(format!("{}/nodes", base(f))).json(&body)).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!((v["url"].as_str(), v["has_password"].as_bool()), (Some("http://127.0.0.1:9"), Some(true)));
    assert!(!v.to_string().contains("hunter2"), "the password is never returned");
    let (s, _) = call(c.http.post(format!("{}/nodes", base(f))).json(&body)).await;
    assert_eq!(s, 409, "a second node with the same id");
    // Readable linearizably from every master right after the write.
    for id in c.running_ids() {
        let (s, v) = call(c.http.get(format!("{}/nodes/n1?consistency=linearizable", base(id)))).await;
        assert_eq!((s, v["tags"].clone()), (200, json!(["eu"])), "master {id}");
    }
    let (s, v) =
        call(c.http.patch(format!("{}/nodes/n1", base(f))).json(&json!({"tags": ["us"], "password": ""}))).await;
    assert_eq!((s, v["tags"].clone(), v["has_password"].as_bool()), (200, json!(["us"]), Some(false)), "{v}");
    let (s, _) = call(c.http.delete(format!("{}/nodes/n1", base(f)))).await;
    assert_eq!(s, 204);
    let (s, _) = call(c.http.get(format!("{}/nodes/n1?consistency=linearizable", base(f)))).await;
    assert_eq!(s, 404);
    c.shutdown().await;
}

/// Stores user `username` with `role` and an API token for them; returns the bearer token.
async fn token_for(c: &TestCluster, username: &str, role: raft_store::state::Role) -> String {
    use raft_store::command::Command;
    use sha2::Digest;
    let leader = c.leader().await;
    let proposer = &c.node(leader).node.proposer;
    let user = Command::CreateUser { username: username.into(), password_hash: "x".into(), role };
    proposer.propose(user).await.expect("create user");
    let secret = format!("secret-of-{username}");
    let token = Command::CreateToken {
        token_id: format!("t{username}"),
        username: username.into(),
        secret_sha256: hex::encode(sha2::Sha256::digest(secret.as_bytes())),
        name: "test".into(),
    };
    let p = proposer.propose(token).await.expect("create token");
    c.converged(p.log_index).await;
    format!("spt_t{username}.{secret}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_route_asks_the_role_of_the_access_table() {
    use raft_store::state::Role;
    let c = TestCluster::start(3, |_| {}).await;
    let base = format!("{}/api/v1", c.url(c.leader().await));
    let viewer = token_for(&c, "vera", Role::Viewer).await;
    let operator = token_for(&c, "otto", Role::Operator).await;
    let status = |m: reqwest::Method, path: &str, token: Option<&str>, body: Option<Value>| {
        let mut r = c.http.request(m, format!("{base}{path}"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        async move { r.send().await.expect("request").status().as_u16() }
    };
    use reqwest::Method as M;
    let new_node = json!({"id": "n1", "url": "http://127.0.0.1:9"});
    for (m, path, body, want_viewer, want_operator) in [
        (M::GET, "/nodes", None, 200, 200),
        (M::GET, "/cluster", None, 200, 200),
        (M::GET, "/cluster/digest", None, 200, 200),
        (M::GET, "/jobs", None, 200, 200),
        (M::GET, "/schedules/nope/fires", None, 404, 404),
        (M::POST, "/nodes", Some(new_node.clone()), 403, 403),
        (M::DELETE, "/nodes/nope", None, 403, 403),
        (M::POST, "/cluster/members", Some(json!({"id": 9, "addr": "http://127.0.0.1:9"})), 403, 403),
        (M::POST, "/debug/clock", Some(json!({"offset_ms": 1})), 403, 403),
        // Operators pass the guard and reach the operation (which finds nothing to act on).
        (M::DELETE, "/projects/nope", None, 403, 404),
        (M::POST, "/schedules", Some(json!({})), 403, 400),
        (M::POST, "/schedules/nope/run", None, 403, 404),
        (M::POST, "/jobs/nope/cancel", None, 403, 404),
    ] {
        assert_eq!(status(m.clone(), path, Some(&viewer), body.clone()).await, want_viewer, "viewer {m} {path}");
        assert_eq!(status(m.clone(), path, Some(&operator), body.clone()).await, want_operator, "operator {m} {path}");
        assert_eq!(status(m.clone(), path, None, body.clone()).await, 401, "anonymous {m} {path}");
    }
    // A user token with a wrong secret is no token.
    assert_eq!(status(M::GET, "/nodes", Some("spt_tvera.wrong"), None).await, 401);
    // The admin may do what the operator may not.
    assert_eq!(status(M::POST, "/nodes", Some(ADMIN), Some(new_node)).await, 201);
    // A known path with a method it does not serve: 405, but only to a caller with a token.
    assert_eq!(status(M::PUT, "/nodes", Some(&viewer), None).await, 405);
    assert_eq!(status(M::PUT, "/nodes", None, None).await, 401);
    // No such path: 404, but only to a caller with a token.
    assert_eq!(status(M::GET, "/no-such-resource", Some(&viewer), None).await, 404);
    assert_eq!(status(M::GET, "/no-such-resource", None, None).await, 401);
    // Public routes need nothing.
    assert_eq!(status(M::GET, "/openapi.json", None, None).await, 200);
    let r = c.http.get(format!("{}/leader", c.url(c.leader().await))).send().await.expect("leader");
    assert_eq!(r.status(), 200);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_root_page_points_a_person_at_the_api_health_and_docs() {
    let c = TestCluster::start(1, |_| {}).await;
    let url = format!("{}/", c.url(1));
    let r = c.http.get(&url).send().await.expect("get /");
    assert_eq!(r.status(), 200);
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(ct.starts_with("text/plain"), "{ct}");
    let text = r.text().await.expect("body");
    for what in ["/api/v1/openapi.json", "/healthz", "README"] {
        assert!(text.contains(what), "{what} missing from {text}");
    }
    let r = c.http.get(&url).header("accept", "text/html,application/xhtml+xml,*/*;q=0.8").send().await.expect("get");
    assert_eq!(r.status(), 200);
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(ct.starts_with("text/html"), "{ct}");
    let html = r.text().await.expect("body");
    assert!(html.contains("href=\"/api/v1/openapi.json\"") && html.contains("href=\"/healthz\""), "{html}");
    // Other unknown pages stay plain 404s.
    assert_eq!(c.http.get(format!("{}/index.html", c.url(1))).send().await.expect("get").status(), 404);
    c.shutdown().await;
}
