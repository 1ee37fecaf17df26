//! Host and job metrics: `/metrics.json` (JSON envelope) and `/metrics` (Prometheus text).
//!
//! Host figures come from `sysinfo`. CPU usage, disk I/O and network rates are deltas between two
//! refreshes, so the sampler keeps its `sysinfo` handles and the time of the last refresh; the
//! first call primes them (rates 0). Metric names carry the unit and a `spider_` prefix.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, Response};
use axum::routing::get;
use axum::Router;
use scrapyd_wire::envelope::{self, Verb};
use scrapyd_wire::pyjson::{obj, Json};
use sysinfo::{Disks, Networks, System};

use crate::app::App;

/// One reading of the host.
#[derive(Debug, Clone, Default)]
pub struct HostSample {
    pub cpu_percent: f64,
    pub cpu_count: usize,
    pub load: (f64, f64, f64),
    pub memory_total: u64,
    pub memory_used: u64,
    pub swap_total: u64,
    pub swap_used: u64,
    pub disk_total: u64,
    pub disk_available: u64,
    pub disk_read_bytes_per_s: f64,
    pub disk_write_bytes_per_s: f64,
    pub net_rx_bytes_per_s: f64,
    pub net_tx_bytes_per_s: f64,
}

#[derive(Debug)]
struct Handles {
    sys: System,
    disks: Disks,
    nets: Networks,
    last: Option<Instant>,
}

/// Keeps `sysinfo` state between requests.
#[derive(Debug)]
pub struct Sampler {
    inner: Mutex<Option<Handles>>,
}

impl Default for Sampler {
    fn default() -> Self {
        Self::new()
    }
}

impl Sampler {
    pub fn new() -> Self {
        Sampler { inner: Mutex::new(None) }
    }

    /// Refreshes and reads the host figures.
    pub fn sample(&self) -> HostSample {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let h = guard.get_or_insert_with(|| {
            let mut sys = System::new();
            sys.refresh_cpu_usage();
            Handles {
                sys,
                disks: Disks::new_with_refreshed_list(),
                nets: Networks::new_with_refreshed_list(),
                last: None,
            }
        });
        let now = Instant::now();
        let elapsed = h.last.map(|t| now.duration_since(t).as_secs_f64()).filter(|s| *s > 0.0);
        h.sys.refresh_cpu_usage();
        h.sys.refresh_memory();
        h.disks.refresh(true);
        h.nets.refresh(true);
        h.last = Some(now);
        let load = System::load_average();
        let mut s = HostSample {
            cpu_percent: f64::from(h.sys.global_cpu_usage()),
            cpu_count: h.sys.cpus().len(),
            load: (load.one, load.five, load.fifteen),
            memory_total: h.sys.total_memory(),
            memory_used: h.sys.used_memory(),
            swap_total: h.sys.total_swap(),
            swap_used: h.sys.used_swap(),
            ..HostSample::default()
        };
        let (mut rd, mut wr) = (0u64, 0u64);
        for d in h.disks.list() {
            s.disk_total += d.total_space();
            s.disk_available += d.available_space();
            let u = d.usage();
            rd += u.read_bytes;
            wr += u.written_bytes;
        }
        let (mut rx, mut tx) = (0u64, 0u64);
        for (_, n) in h.nets.iter() {
            rx += n.received();
            tx += n.transmitted();
        }
        if let Some(secs) = elapsed {
            s.disk_read_bytes_per_s = rd as f64 / secs;
            s.disk_write_bytes_per_s = wr as f64 / secs;
            s.net_rx_bytes_per_s = rx as f64 / secs;
            s.net_tx_bytes_per_s = tx as f64 / secs;
        }
        s
    }
}

/// `/metrics.json` and `/metrics`.
pub fn router(app: &Arc<App>) -> Router<Arc<App>> {
    let mut r = Router::new().route("/metrics", get(prometheus));
    if app.config.service_enabled("metrics.json") {
        r = r.route("/metrics.json", get(metrics_json));
    }
    r
}

async fn metrics_json(State(app): State<Arc<App>>) -> Response<Body> {
    let a = app.clone();
    let s = tokio::task::spawn_blocking(move || a.metrics.sample()).await.unwrap_or_default();
    let (pending, running, finished) = app.book().counts();
    let payload = vec![
        ("cpu_percent".to_string(), Json::from(s.cpu_percent)),
        ("cpu_count".to_string(), Json::from(s.cpu_count)),
        ("load_average".to_string(), Json::from(vec![s.load.0, s.load.1, s.load.2])),
        (
            "memory".to_string(),
            obj([("total_bytes", Json::from(s.memory_total)), ("used_bytes", Json::from(s.memory_used))]),
        ),
        ("swap".to_string(), obj([("total_bytes", Json::from(s.swap_total)), ("used_bytes", Json::from(s.swap_used))])),
        (
            "disk".to_string(),
            obj([
                ("total_bytes", Json::from(s.disk_total)),
                ("available_bytes", Json::from(s.disk_available)),
                ("read_bytes_per_s", Json::from(s.disk_read_bytes_per_s)),
                ("write_bytes_per_s", Json::from(s.disk_write_bytes_per_s)),
            ]),
        ),
        (
            "network".to_string(),
            obj([
                ("rx_bytes_per_s", Json::from(s.net_rx_bytes_per_s)),
                ("tx_bytes_per_s", Json::from(s.net_tx_bytes_per_s)),
            ]),
        ),
        (
            "jobs".to_string(),
            obj([
                ("pending", Json::from(pending)),
                ("running", Json::from(running)),
                ("finished", Json::from(finished)),
            ]),
        ),
        ("slots".to_string(), Json::from(app.config.slots())),
    ];
    envelope::ok(&app.config.node_name, payload, Verb::Get)
}

async fn prometheus(State(app): State<Arc<App>>) -> Response<Body> {
    let a = app.clone();
    let s = tokio::task::spawn_blocking(move || a.metrics.sample()).await.unwrap_or_default();
    let mut per_project: Vec<(String, usize)> = app.book().pending_counts().map(|(p, n)| (p.to_string(), n)).collect();
    per_project.sort();
    let (pending, running, finished) = app.book().counts();
    let mut t = String::new();
    let mut gauge = |name: &str, help: &str, value: String| {
        t.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"));
    };
    gauge("spider_slave_jobs_pending", "Jobs waiting in the queue.", pending.to_string());
    gauge("spider_slave_jobs_running", "Crawl processes running.", running.to_string());
    gauge("spider_slave_jobs_finished", "Finished jobs kept in history.", finished.to_string());
    gauge("spider_slave_slots", "Process slots (max_proc).", app.config.slots().to_string());
    gauge("spider_host_cpu_percent", "Host CPU usage in percent.", s.cpu_percent.to_string());
    gauge("spider_host_load1", "1-minute load average.", s.load.0.to_string());
    gauge("spider_host_memory_used_bytes", "Used memory in bytes.", s.memory_used.to_string());
    gauge("spider_host_memory_total_bytes", "Total memory in bytes.", s.memory_total.to_string());
    gauge("spider_host_swap_used_bytes", "Used swap in bytes.", s.swap_used.to_string());
    gauge("spider_host_disk_available_bytes", "Available disk space in bytes.", s.disk_available.to_string());
    gauge("spider_host_disk_total_bytes", "Total disk space in bytes.", s.disk_total.to_string());
    gauge("spider_host_net_rx_bytes_per_second", "Network receive rate.", s.net_rx_bytes_per_s.to_string());
    gauge("spider_host_net_tx_bytes_per_second", "Network transmit rate.", s.net_tx_bytes_per_s.to_string());
    t.push_str("# HELP spider_slave_project_jobs_pending Pending jobs per project.\n# TYPE spider_slave_project_jobs_pending gauge\n");
    for (p, n) in per_project {
        let label = p.replace('\\', "\\\\").replace('"', "\\\"");
        t.push_str(&format!("spider_slave_project_jobs_pending{{project=\"{label}\"}} {n}\n"));
    }
    let mut resp = Response::new(Body::from(t));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    resp
}
