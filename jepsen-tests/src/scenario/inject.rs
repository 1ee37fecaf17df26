//! Fault windows over a run: after a seeded recovery time, the next fault of the seeded rounds
//! is installed, held a seeded while (at least its [`Fault::min_hold`]), and healed — again
//! and again until the run's time is up. Master faults go to the [`crate::nemesis`]; slave
//! faults switch one stand-in's [`FaultMode`]. Every install and heal is recorded in the
//! history, one event per target.

use std::time::Duration;
use std::time::Instant;

use super::env::leader_since;
use super::env::Env;
use super::plan::Rounds;
use super::plan::RunConfig;
use crate::fault::Fault;
use crate::fault::Installed;
use crate::history::Event;
use crate::standin::FaultMode;
use crate::standin::StandIn;
use crate::workload::Rng;

/// The stand-in mode a slave fault switches to; `None` for master faults.
fn standin_mode(f: Fault) -> Option<FaultMode> {
    match f {
        Fault::Slave5xx => Some(FaultMode::Error5xx),
        Fault::SlaveSlow => Some(FaultMode::Slow),
        Fault::SlaveAmbiguous => Some(FaultMode::Ambiguous),
        _ => None,
    }
}

/// Injects fault windows from `cfg.faults` until `cfg.time` has passed since `began`, then
/// waits out the rest of the time. With `cfg.inject_duplicate`, the first stand-in that can
/// records a duplicate start of its own (the honesty self-test) after a recovery time.
pub async fn fault_windows(env: &mut Env, cfg: &RunConfig, rng: &mut Rng, began: Instant) -> anyhow::Result<()> {
    let mut duplicated = !cfg.inject_duplicate;
    let mut rounds = Rounds::new(cfg.faults.clone());
    loop {
        let recover = Duration::from_millis(rng.range(cfg.recover_ms.0, cfg.recover_ms.1));
        if began.elapsed() + recover > cfg.time {
            break;
        }
        tokio::time::sleep(recover).await;
        if !duplicated {
            duplicated = env.standins.iter().find_map(StandIn::inject_duplicate_start).is_some();
        }
        let Some(fault) = rounds.next(rng) else { continue };
        let hold = Duration::from_millis(rng.range(cfg.hold_ms.0, cfg.hold_ms.1));
        if began.elapsed() + hold + Duration::from_millis(cfg.recover_ms.0) > cfg.time {
            break;
        }
        let hold = hold.max(fault.min_hold());
        let installed = install(env, fault, rng).await;
        tracing::info!(%fault, installed = installed.installed, detail = %installed.detail, "fault");
        tokio::time::sleep(hold).await;
        heal(env, &installed).await?;
    }
    if began.elapsed() < cfg.time {
        tokio::time::sleep(cfg.time - began.elapsed()).await;
    }
    Ok(())
}

/// Installs `fault`; records it (installed or skipped) in the history, one event per target
/// (target 0 when none was chosen). Master faults are given the leader observed in the last
/// 500 ms; a slave fault picks a stand-in with `rng`.
pub async fn install(env: &mut Env, fault: Fault, rng: &mut Rng) -> Installed {
    let leader = leader_since(&env.rec, env.rec.now().saturating_sub(500));
    let i = match standin_mode(fault) {
        Some(mode) => {
            let slave = rng.range(1, env.standins.len().max(1) as u64) as u8;
            match env.standins.get(slave as usize - 1) {
                Some(s) => {
                    s.set_mode(mode);
                    Installed { fault, targets: vec![slave], installed: true, detail: format!("{mode:?}") }
                }
                None => {
                    Installed { fault, targets: vec![slave], installed: false, detail: format!("no stand-in {slave}") }
                }
            }
        }
        None => env.nemesis.install(&fault, &env.net, &mut env.cluster, leader, &mut env.nemesis_rng).await,
    };
    let at_ms = env.rec.now();
    let targets = if i.targets.is_empty() { vec![0] } else { i.targets.clone() };
    for t in &targets {
        env.rec.push(Event::Fault { at_ms, kind: fault, target: *t, installed: i.installed });
    }
    Installed { targets, ..i }
}

/// Removes an installed fault (the nemesis heals every master fault it holds); records the
/// heal per target.
pub async fn heal(env: &mut Env, i: &Installed) -> anyhow::Result<()> {
    if !i.installed {
        return Ok(());
    }
    if standin_mode(i.fault).is_some() {
        for t in &i.targets {
            if let Some(s) = env.standins.get((*t as usize).wrapping_sub(1)) {
                s.set_mode(FaultMode::Healthy);
            }
        }
    } else {
        let healed = env.nemesis.heal(&env.net, &mut env.cluster).await;
        let failed: Vec<String> =
            healed.iter().filter(|h| !h.healed).map(|h| format!("{}: {}", h.fault, h.detail)).collect();
        anyhow::ensure!(failed.is_empty(), "could not heal {failed:?}");
    }
    for t in &i.targets {
        env.rec.push(Event::Healed { at_ms: env.rec.now(), kind: i.fault, target: *t });
    }
    Ok(())
}

/// Everything healed, whatever state the run was left in: the nemesis's faults, every
/// partition rule, every stand-in back to healthy, every master resumed or restarted.
pub async fn heal_everything(env: &mut Env) -> anyhow::Result<()> {
    let _ = env.nemesis.heal(&env.net, &mut env.cluster).await;
    env.net.heal()?;
    for s in &env.standins {
        s.set_mode(FaultMode::Healthy);
    }
    for h in env.net.hosts.clone() {
        if env.cluster.procs.contains_key(&h.index) {
            let _ = env.cluster.resume(h.index);
        } else {
            env.cluster.launch(&env.net, h.index)?;
        }
    }
    Ok(())
}
