//! The fault-injection harness (issue 6): real `spider-master` processes in their own network
//! namespaces, real faults (SIGKILL, SIGSTOP, iptables partitions), a recorded history, and
//! checkers that judge the history.
//!
//! - [`net`]: test hosts (namespaces, veth, bridge) and partitions.
//! - [`cluster`]: launching, killing, pausing masters.
//! - [`history`]: what was observed and injected.
//! - [`checker`]: verdicts over a history.
//! - [`scenario`]: the smoke scenarios and `results.json`.
//!
//! Today the workload is observation of roles and terms (the cron workload arrives with the
//! scheduler, issue 5), so `fires_checked` is 0.

pub mod checker;
pub mod cluster;
pub mod history;
pub mod nemesis;
pub mod net;
pub mod proxy;
pub mod scenario;
