//! `spider-up` end to end: the real binary starts 3 real `spider-master`s and 2 `spider-slave`s
//! (found next to it, as `scripts/up.sh` runs it), deploys the demo egg, a crawl of the demo
//! site yields items, mail sent to its SMTP sink lands in `<dir>/mail/`, and SIGTERM stops every
//! child.
//! Needs SPIDER_PYTHON (a Python with Scrapy) and the workspace's binaries built
//! (`cargo build --release --workspace`: spider-master and spider-slave next to spider-up).

use std::path::Path;
use std::path::PathBuf;
use std::process::Child;
use std::process::Command;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use cluster_harness::eventually;
use cluster_harness::smtp_sink::read_mails;
use lettre::AsyncSmtpTransport;
use lettre::AsyncTransport;
use lettre::Message;
use lettre::Tokio1Executor;
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(240);

async fn get(http: &reqwest::Client, url: &str) -> Option<(u16, Value)> {
    let r = http.get(url).send().await.ok()?;
    let status = r.status().as_u16();
    Some((status, r.json().await.unwrap_or(Value::Null)))
}

fn alive(pid: u64) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// Kills the `up` process if the test fails half-way (it then stops its children).
struct Up(Child);

impl Drop for Up {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            if let Ok(pid) = libc::pid_t::try_from(self.0.id()) {
                // SAFETY: signals our own child.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
            let deadline = Instant::now() + Duration::from_secs(30);
            while matches!(self.0.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

#[tokio::test]
async fn up_starts_a_cluster_that_deploys_and_crawls_then_stops_cleanly() {
    let Some(python) = std::env::var_os("SPIDER_PYTHON").map(PathBuf::from) else {
        eprintln!("SKIPPED: set SPIDER_PYTHON to a Python with Scrapy (scripts/setup.sh does) to run the `up` test");
        return;
    };
    let up_bin = PathBuf::from(env!("CARGO_BIN_EXE_spider-up"));
    for (bin, package) in [("spider-master", "master"), ("spider-slave", "slave")] {
        let path = up_bin.with_file_name(bin);
        assert!(path.is_file(), "{} missing: build it with `cargo build --release -p {package}`", path.display());
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("dev");
    let log = std::fs::File::create(tmp.path().join("up.log")).expect("log");
    // No --master-bin/--slave-bin: spider-up finds both next to itself.
    let child = Command::new(&up_bin)
        .arg("--dir")
        .arg(&dir)
        .arg("--python")
        .arg(&python)
        .env_remove("SPIDER_MASTER_BIN")
        .env_remove("SPIDER_SLAVE_BIN")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start spider-up");
    let mut up = Up(child);
    let up_log = tmp.path().join("up.log");
    let cluster_json = dir.join("cluster.json");
    let cluster: Value = eventually("cluster.json", DEADLINE, || {
        let up_exited = matches!(up.0.try_wait(), Ok(Some(_)));
        assert!(!up_exited, "up exited early:\n{}", std::fs::read_to_string(&up_log).unwrap_or_default());
        let text = std::fs::read_to_string(&cluster_json).map_err(|e| format!("{}: {e}", cluster_json.display()));
        async move {
            let text = text?;
            serde_json::from_str(&text).map_err(|e| format!("cluster.json: {e}"))
        }
    })
    .await;
    check_cluster(&cluster, &dir).await;
    let smtp = check_mail(&cluster, &dir, &up_log).await;

    // SIGTERM: every child gone, exit status 0.
    let pids: Vec<u64> = ["masters", "slaves"]
        .iter()
        .flat_map(|k| cluster[k].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["pid"].as_u64())
        .collect();
    assert_eq!(pids.len(), 5, "{cluster}");
    let pid = libc::pid_t::try_from(up.0.id()).expect("pid");
    // SAFETY: signals our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = eventually("up to exit", Duration::from_secs(60), || {
        let s = up.0.try_wait().ok().flatten();
        async move { s.ok_or_else(|| "still running".to_string()) }
    })
    .await;
    assert!(status.success(), "up exited with {status}:\n{}", std::fs::read_to_string(&up_log).unwrap_or_default());
    eventually("every child to be gone", Duration::from_secs(10), || {
        let left: Vec<u64> = pids.iter().copied().filter(|&p| alive(p)).collect();
        async move {
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("alive: {left:?}"))
            }
        }
    })
    .await;
    assert!(std::net::TcpStream::connect(&smtp).is_err(), "the SMTP sink on {smtp} still listens after up stopped");
}

/// `cluster.json` names the mail dir and the SMTP sink; a message sent there (plain SMTP, as
/// the masters' alert mail goes) is stored in the mail dir, whole. Returns the sink's address.
async fn check_mail(cluster: &Value, dir: &Path, up_log: &Path) -> String {
    let mail_dir = PathBuf::from(cluster["mail_dir"].as_str().expect("mail_dir"));
    assert_eq!(mail_dir, dir.join("mail"), "{cluster}");
    assert!(mail_dir.is_dir(), "{} missing", mail_dir.display());
    let smtp = cluster["smtp"].as_str().expect("smtp").to_string();
    let port: u16 =
        smtp.strip_prefix("127.0.0.1:").and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("smtp: {smtp}"));
    let up_json: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("up.json")).expect("up.json")).expect("json");
    assert_eq!(up_json["smtp_port"].as_u64(), Some(u64::from(port)), "the port is kept in up.json");
    let summary = format!("alert mail: {}/ (SMTP sink on {smtp}", mail_dir.display());
    eventually("the summary to say where alert mail lands", Duration::from_secs(20), || {
        let log = std::fs::read_to_string(up_log).unwrap_or_default();
        let found = log.contains(&summary);
        async move {
            if found {
                Ok(())
            } else {
                Err(log)
            }
        }
    })
    .await;

    let before = read_mails(&mail_dir).expect("mail dir").len();
    let m = Message::builder()
        .from("up test <test@spider-platform.localhost>".parse().expect("from"))
        .to("oncall@spider-platform.localhost".parse().expect("to"))
        .subject("up.rs: does mail land in the mail dir?")
        .body("It does.\n".to_string())
        .expect("message");
    let smtp_client = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(port)
        .timeout(Some(Duration::from_secs(10)))
        .build();
    smtp_client.send(m).await.expect("the SMTP sink accepts mail");
    let mail = eventually("the test mail in the mail dir", Duration::from_secs(20), || {
        let mails = read_mails(&mail_dir).map_err(|e| format!("{e:#}"));
        async move {
            let mails = mails?;
            mails
                .into_iter()
                .skip(before)
                .find(|m| m.subject == "up.rs: does mail land in the mail dir?")
                .ok_or_else(|| "not yet".to_string())
        }
    })
    .await;
    assert_eq!(mail.path.parent(), Some(mail_dir.as_path()));
    assert_eq!(
        (mail.from.as_str(), mail.to.as_slice()),
        ("test@spider-platform.localhost", ["oncall@spider-platform.localhost".to_string()].as_slice())
    );
    assert_eq!(mail.text_body.trim_end(), "It does.");
    assert!(dir.join("logs/mail-sink.log").is_file());
    smtp
}

async fn check_cluster(cluster: &Value, dir: &Path) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
    let token = cluster["token"].as_str().expect("token");
    let masters: Vec<String> = cluster["masters"]
        .as_array()
        .expect("masters")
        .iter()
        .filter_map(|m| m["api"].as_str().map(String::from))
        .collect();
    assert_eq!(masters.len(), 3, "{cluster}");
    // Every master healthy, exactly one leader (waited on: a leader may just be changing).
    eventually("3 healthy masters and exactly one leader", DEADLINE, || {
        let (http, masters) = (http.clone(), masters.clone());
        async move {
            let mut leaders = 0;
            for m in &masters {
                let unreachable = || format!("{m} does not answer");
                let (health, _) = get(&http, &format!("{m}/healthz")).await.ok_or_else(unreachable)?;
                if health != 200 {
                    return Err(format!("{m}/healthz: {health}"));
                }
                if get(&http, &format!("{m}/leader")).await.ok_or_else(unreachable)?.0 == 200 {
                    leaders += 1;
                }
            }
            if leaders == 1 {
                Ok(())
            } else {
                Err(format!("{leaders} leaders"))
            }
        }
    })
    .await;
    let (status, _) = get(&http, &format!("{}/api/v1/cluster", masters[0])).await.expect("cluster");
    assert_eq!(status, 401, "the API needs the token");
    let r = http.get(format!("{}/api/v1/nodes", masters[0])).bearer_auth(token).send().await.expect("nodes");
    let nodes: Value = r.json().await.expect("nodes json");
    assert_eq!(nodes.as_array().map(Vec::len), Some(2), "{nodes}");

    let slaves: Vec<String> = cluster["slaves"]
        .as_array()
        .expect("slaves")
        .iter()
        .filter_map(|s| s["url"].as_str().map(String::from))
        .collect();
    assert_eq!(slaves.len(), 2, "{cluster}");
    for s in &slaves {
        let (status, v) = get(&http, &format!("{s}/daemonstatus.json")).await.expect("daemonstatus");
        assert_eq!((status, v["status"].as_str()), (200, Some("ok")), "{s}: {v}");
        let (_, v) = get(&http, &format!("{s}/listprojects.json")).await.expect("listprojects");
        assert!(v["projects"].as_array().is_some_and(|p| p.iter().any(|p| p == "demo")), "{s}: {v}");
        let (_, v) = get(&http, &format!("{s}/listspiders.json?project=demo")).await.expect("listspiders");
        assert!(v["spiders"].as_array().is_some_and(|p| p.iter().any(|p| p == "quotes")), "{s}: {v}");
    }

    // The demo schedule exists; running it now through a master dispatches a crawl of the demo
    // site to a slave, which yields its three quotes.
    let site = cluster["demo_site"].as_str().expect("demo_site");
    let schedule = cluster["demo_schedule"].as_str().expect("demo_schedule");
    let r = http.get(format!("{}/api/v1/schedules/{schedule}", masters[1])).bearer_auth(token).send().await;
    let v: Value = r.expect("schedule").json().await.expect("schedule json");
    assert_eq!((v["spec"]["project"].as_str(), v["spec"]["args"]["url"].as_str()), (Some("demo"), Some(site)), "{v}");
    assert!(v["next_fires"].as_array().is_some_and(|f| !f.is_empty()), "{v}");
    let r = http.post(format!("{}/api/v1/schedules/{schedule}/run", masters[2])).bearer_auth(token).send().await;
    let r = r.expect("run now");
    assert_eq!(r.status(), 202);
    let v: Value = r.json().await.expect("run json");
    let job = v["job_id"].as_str().expect("job_id").to_string();
    let finished = eventually("the demo crawl to finish on a slave", DEADLINE, || {
        let (http, slaves, job) = (http.clone(), slaves.clone(), job.clone());
        async move {
            let mut seen = Vec::new();
            for s in &slaves {
                let (_, v) = get(&http, &format!("{s}/listjobs.json?project=demo"))
                    .await
                    .ok_or_else(|| format!("{s} does not answer"))?;
                let finished = v["finished"].as_array().ok_or_else(|| format!("{s}: {v}"))?;
                if let Some(j) = finished.iter().find(|j| j["id"] == job.as_str()) {
                    return Ok(j.clone());
                }
                seen.push(v);
            }
            Err(format!("{seen:?}"))
        }
    })
    .await;
    assert!(
        finished["items_scraped"].as_u64().is_some_and(|n| n >= 3),
        "{finished}; slave log under {}",
        dir.display()
    );
}
