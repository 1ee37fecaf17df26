//! A job's outcome: how its process ended plus what Scrapy's final stats dump says.
//!
//! Parsing reads only the tail of the log (the stats dump is the last thing Scrapy writes), so it
//! stays cheap for huge logs. When there is no stats dump (a crash at import), the log-level
//! counts come from scanning that tail for ` ERROR: `/` CRITICAL: ` lines and tracebacks.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use scrapyd_wire::pyjson::{obj, Json};
use serde::{Deserialize, Serialize};

/// How a job ended, in one word (extra `outcome` field in listjobs/status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// Exit code 0.
    Success,
    /// Non-zero exit code.
    Failure,
    /// Killed by a signal.
    Signalled,
    /// The process could not be started (interpreter missing, egg gone).
    SpawnFailed,
    /// The slave restarted and the process was gone (or was another process with the same pid).
    Lost,
    /// A re-adopted process ended; its exit status is unknowable for a non-child.
    Exited,
}

impl Ending {
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::Success => "success",
            Ending::Failure => "failure",
            Ending::Signalled => "signalled",
            Ending::SpawnFailed => "spawn_failed",
            Ending::Lost => "lost",
            Ending::Exited => "exited",
        }
    }
}

/// Everything we know about how a finished job went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub ending: Ending,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// Scrapy's `finish_reason` stat (`finished`, `shutdown`, `closespider_timeout`, …).
    pub finish_reason: Option<String>,
    pub items_scraped: Option<u64>,
    pub responses_received: Option<u64>,
    /// `log_count/<LEVEL>` stats (or counted lines when there is no stats dump).
    pub log_counts: BTreeMap<String, u64>,
    /// Why the process could not be started, for `spawn_failed`.
    pub error: Option<String>,
}

impl Outcome {
    /// An outcome with no log facts yet.
    pub fn bare(ending: Ending) -> Self {
        Outcome {
            ending,
            exit_code: None,
            signal: None,
            finish_reason: None,
            items_scraped: None,
            responses_received: None,
            log_counts: BTreeMap::new(),
            error: None,
        }
    }

    /// The extra listjobs/status fields, in a stable order.
    pub fn fields(&self) -> Vec<(String, Json)> {
        let errors =
            self.log_counts.get("ERROR").copied().unwrap_or(0) + self.log_counts.get("CRITICAL").copied().unwrap_or(0);
        let counts = obj(self.log_counts.iter().map(|(k, v)| (k.clone(), Json::from(*v))));
        vec![
            ("outcome".into(), Json::from(self.ending.as_str())),
            ("exit_code".into(), Json::from(self.exit_code)),
            ("signal".into(), Json::from(self.signal)),
            ("finish_reason".into(), Json::from(self.finish_reason.clone())),
            ("items_scraped".into(), Json::from(self.items_scraped)),
            ("responses_received".into(), Json::from(self.responses_received)),
            ("errors".into(), Json::from(errors)),
            ("log_counts".into(), counts),
            ("error".into(), Json::from(self.error.clone())),
        ]
    }

    /// Fills the Scrapy facts from the job's log file, if there is one.
    pub fn read_log(&mut self, log: Option<&Path>) {
        let Some(path) = log else { return };
        let Ok(tail) = read_tail(path, 256 * 1024) else { return };
        self.apply_log_tail(&tail);
    }

    /// Parses the last stats dump in `tail`, or counts level lines if there is none.
    pub fn apply_log_tail(&mut self, tail: &str) {
        if let Some(pos) = tail.rfind("Dumping Scrapy stats:") {
            for line in tail[pos..].lines().skip(1) {
                let t = line.trim().trim_start_matches('{').trim_end_matches(',');
                let done = t.ends_with('}');
                let t = t.trim_end_matches('}');
                if let Some((k, v)) = t.split_once("': ") {
                    let key = k.trim_start_matches('\'');
                    let num = v.trim().parse::<u64>().ok();
                    match key {
                        "finish_reason" => self.finish_reason = Some(v.trim().trim_matches('\'').to_string()),
                        "item_scraped_count" => self.items_scraped = num,
                        "response_received_count" => self.responses_received = num,
                        k if k.starts_with("log_count/") => {
                            if let Some(n) = num {
                                self.log_counts.insert(k["log_count/".len()..].to_string(), n);
                            }
                        }
                        _ => {}
                    }
                } else if !t.is_empty() && !line.starts_with(' ') && !line.starts_with('{') {
                    break;
                }
                if done {
                    break;
                }
            }
        } else {
            for line in tail.lines() {
                for level in ["CRITICAL", "ERROR", "WARNING"] {
                    if line.contains(&format!("] {level}: ")) {
                        *self.log_counts.entry(level.into()).or_default() += 1;
                    }
                }
                if line.starts_with("Traceback (most recent call last):") {
                    *self.log_counts.entry("CRITICAL".into()).or_default() += 1;
                }
            }
        }
        if self.items_scraped.is_none() && self.finish_reason.is_some() {
            self.items_scraped = Some(0);
        }
    }
}

/// The last `max` bytes of a file, lossily decoded.
pub fn read_tail(path: &Path, max: u64) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    if len > max {
        f.seek(SeekFrom::Start(len - max))?;
    }
    let mut buf = Vec::new();
    f.take(max).read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stats_dump() {
        let log = "2026 [scrapy.core.engine] INFO: Closing spider (finished)\n\
2026 [scrapy.statscollectors] INFO: Dumping Scrapy stats:\n\
{'downloader/request_count': 3,\n 'finish_reason': 'finished',\n 'item_scraped_count': 7,\n\
 'log_count/ERROR': 2,\n 'log_count/INFO': 10,\n 'response_received_count': 3,\n\
 'start_time': datetime.datetime(2026, 1, 1, 0, 0)}\n2026 [scrapy.core.engine] INFO: Spider closed (finished)\n";
        let mut o = Outcome::bare(Ending::Success);
        o.apply_log_tail(log);
        assert_eq!(o.finish_reason.as_deref(), Some("finished"));
        assert_eq!(o.items_scraped, Some(7));
        assert_eq!(o.responses_received, Some(3));
        assert_eq!(o.log_counts.get("ERROR"), Some(&2));
        assert_eq!(o.log_counts.get("INFO"), Some(&10));
    }

    #[test]
    fn crash_without_stats() {
        let mut o = Outcome::bare(Ending::Failure);
        o.apply_log_tail("Traceback (most recent call last):\n  File x\nImportError: boom\n");
        assert_eq!(o.log_counts.get("CRITICAL"), Some(&1));
        assert_eq!(o.finish_reason, None);
    }
}
