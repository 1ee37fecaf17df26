//! What `up` tells the user: `<dir>/cluster.json` and the printed summary.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use crate::layout::Layout;

#[derive(Debug, Serialize)]
pub struct MasterEntry {
    pub id: u64,
    pub api: String,
    pub pid: u32,
}

#[derive(Debug, Serialize)]
pub struct SlaveEntry {
    pub name: String,
    pub url: String,
    pub pid: u32,
}

/// The contents of `cluster.json`.
#[derive(Debug, Serialize)]
pub struct ClusterFile {
    pub token: String,
    pub masters: Vec<MasterEntry>,
    pub slaves: Vec<SlaveEntry>,
    pub demo_site: String,
    /// The API URL of the master that led when provisioning finished.
    pub leader: String,
    pub demo_project: String,
    pub demo_version: String,
    /// The demo schedule's id.
    pub demo_schedule: Option<String>,
    /// Where the SMTP sink stores every message it receives (one `.eml` file each).
    pub mail_dir: String,
    /// The SMTP sink's address (`127.0.0.1:<port>`, plain SMTP, no auth).
    pub smtp: String,
    /// Whether the demo alert rules and mail channel were configured (false on a master
    /// without the alerting API).
    #[serde(skip)]
    pub demo_alerting: bool,
}

impl ClusterFile {
    pub fn new(layout: &Layout, pids: &BTreeMap<String, u32>, leader: String) -> ClusterFile {
        let pid = |name: &str| pids.get(name).copied().unwrap_or(0);
        ClusterFile {
            token: layout.admin_token.clone(),
            masters: layout
                .master_ports
                .keys()
                .map(|&id| MasterEntry { id, api: layout.master_url(id), pid: pid(&format!("master-{id}")) })
                .collect(),
            slaves: layout
                .slave_ports
                .keys()
                .map(|n| SlaveEntry { name: n.clone(), url: layout.slave_url(n), pid: pid(n) })
                .collect(),
            demo_site: layout.demo_site_url(),
            leader,
            demo_project: crate::demo::PROJECT.into(),
            demo_version: crate::demo::egg_version(),
            demo_schedule: None,
            mail_dir: layout.mail_dir().display().to_string(),
            smtp: layout.smtp_addr(),
            demo_alerting: false,
        }
    }

    /// Writes the file atomically (write, then rename), readable only by its owner.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let tmp = dir.join("cluster.json.tmp");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(serde_json::to_string_pretty(self)?.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join("cluster.json")).context("cannot rename cluster.json")
    }

    /// The summary printed once the cluster is ready.
    pub fn summary(&self, dir: &Path) -> String {
        let masters = self.masters.iter().map(|m| m.api.as_str()).collect::<Vec<_>>().join("  ");
        let slaves = self.slaves.iter().map(|s| format!("{} {}", s.name, s.url)).collect::<Vec<_>>().join("  ");
        let schedule = match &self.demo_schedule {
            Some(id) => format!("schedule {id} runs {}/quotes every minute", self.demo_project),
            None => "no demo schedule: this build has no /api/v1/schedules".into(),
        };
        let alerting = if self.demo_alerting { "" } else { "; no alert rules: this build has no alerting API" };
        format!(
            "\nspider-platform dev cluster is up (data and logs in {dir}, summary in {dir}/cluster.json)\n\
             \x20 API:        {leader}/api/v1  (any master serves: {masters})\n\
             \x20 token:      {token}   (Authorization: Bearer …)\n\
             \x20 try:        curl -H 'Authorization: Bearer {token}' {leader}/api/v1/cluster\n\
             \x20 slaves:     {slaves}   (Scrapyd API and pages)\n\
             \x20 demo site:  {site}\n\
             \x20 demo:       project {project} {version} deployed to every slave; {schedule}\n\
             \x20 alert mail: {mail_dir}/ (SMTP sink on {smtp}{alerting})\n\n\
             Ctrl-C stops everything.\n",
            dir = dir.display(),
            leader = self.leader,
            token = self.token,
            site = self.demo_site,
            project = self.demo_project,
            version = self.demo_version,
            mail_dir = self.mail_dir,
            smtp = self.smtp,
        )
    }
}
