//! The alert checker's part of a run's end (`checker::alerts` judges; this only waits and, for
//! the honesty self-test, injects). After the final quiet period, the harness polls the SMTP
//! sink's directory, with a deadline, until every failover the checker owes a mail so far —
//! the final leader's included — has one: a mail the masters were still sending is then judged
//! as delivered rather than missing. Waiting longer never excuses anything: what has not
//! arrived by the deadline is judged missing.

use std::collections::BTreeSet;
use std::time::Duration;
use std::time::Instant;

use anyhow::Context;

use super::env::Env;
use super::plan::RunConfig;
use crate::checker::alerts;
use crate::checker::alerts::Mail;
use crate::history::Event;
use crate::mailsink::MailSink;

/// Waits for the owed failover mail (until `deadline`), then delivers the first stored
/// failover mail `cfg.inject_duplicate_mail` more times. Without a sink there is nothing to do.
pub async fn settle(env: &Env, cfg: &RunConfig, deadline: Instant) -> anyhow::Result<()> {
    let Some(sink) = &env.mail else { return Ok(()) };
    let masters = env.net.hosts.len();
    loop {
        let awaited = env.rec.read(|h| alerts::awaited_terms(h, masters));
        let arrived: BTreeSet<u64> =
            alerts::read_mailbox(&sink.dir).iter().flatten().filter_map(Mail::failover_term).collect();
        let missing: Vec<u64> = awaited.into_iter().filter(|t| !arrived.contains(t)).collect();
        if missing.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            tracing::warn!(?missing, "failover mail still missing at the deadline; the alert checker will say so");
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if cfg.inject_duplicate_mail > 0 {
        inject(env, sink, cfg.inject_duplicate_mail).await?;
    }
    Ok(())
}

/// The honesty self-test: the first stored failover mail, delivered to the sink `copies` more
/// times over SMTP (the sink stores each before it answers, so they are there on return).
async fn inject(env: &Env, sink: &MailSink, copies: usize) -> anyhow::Result<()> {
    let mut first = None;
    for file in sink.files()? {
        let mail = Mail::parse("", &std::fs::read(&file)?);
        if mail.failover_term().is_some() {
            first = Some((file, mail));
            break;
        }
    }
    let (file, mail) = first.context("no failover mail arrived to deliver again")?;
    for _ in 0..copies {
        sink.deliver_again(&file).await?;
    }
    let message_id = mail.message_id.unwrap_or_default();
    env.rec.push(Event::MailInjected { at_ms: env.rec.now(), message_id, copies });
    Ok(())
}
