//! Test hosts: one Linux network namespace per master, joined by veth pairs to a bridge in the
//! root namespace, each with its own address. Partitions are iptables DROP rules inside the
//! namespaces (silent drops, like a real network fault). Everything is removed on drop.

use std::process::Command;

use anyhow::bail;
use anyhow::Context;

/// Runs a command, failing with its stderr.
pub fn sh(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(args[0]).args(&args[1..]).output().with_context(|| format!("running {args:?}"))?;
    if !out.status.success() {
        bail!("{args:?} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A set of test hosts on one bridge.
pub struct Net {
    /// Short unique tag (namespace and link names derive from it).
    pub tag: String,
    bridge: String,
    /// The root namespace's address on the bridge: where harness-side servers (the recording
    /// stand-in slave, per-link proxies) listen so that every host reaches them.
    pub bridge_ip: String,
    pub hosts: Vec<Host>,
}

/// One test host.
#[derive(Debug, Clone)]
pub struct Host {
    pub index: u8,
    pub netns: String,
    pub ip: String,
}

impl Net {
    /// Creates `n` hosts. Needs root.
    pub fn create(n: u8) -> anyhow::Result<Self> {
        let pid = std::process::id();
        let tag = format!("jt{}", pid % 100_000);
        let subnet = (pid % 200) as u8 + 20;
        let bridge = format!("{tag}br");
        let bridge_ip = format!("10.77.{subnet}.254");
        let mut net = Net { tag: tag.clone(), bridge: bridge.clone(), bridge_ip: bridge_ip.clone(), hosts: Vec::new() };
        sh(&["ip", "link", "add", &bridge, "type", "bridge"])?;
        sh(&["ip", "addr", "add", &format!("{bridge_ip}/24"), "dev", &bridge])?;
        sh(&["ip", "link", "set", &bridge, "up"])?;
        // Hosts where bridged traffic passes the root namespace's iptables (br_netfilter) with a
        // FORWARD policy of DROP (Docker sets one) would silently cut every link: allow ours.
        sh(&["iptables", "-I", "FORWARD", "-i", &bridge, "-o", &bridge, "-j", "ACCEPT"])?;
        for i in 1..=n {
            let netns = format!("{tag}n{i}");
            let outer = format!("{tag}v{i}");
            let inner = format!("{tag}i{i}");
            let ip = format!("10.77.{subnet}.{i}");
            sh(&["ip", "netns", "add", &netns])?;
            net.hosts.push(Host { index: i, netns: netns.clone(), ip: ip.clone() });
            sh(&["ip", "link", "add", &outer, "type", "veth", "peer", "name", &inner])?;
            sh(&["ip", "link", "set", &inner, "netns", &netns])?;
            sh(&["ip", "link", "set", &outer, "master", &bridge])?;
            sh(&["ip", "link", "set", &outer, "up"])?;
            sh(&["ip", "netns", "exec", &netns, "ip", "addr", "add", &format!("{ip}/24"), "dev", &inner])?;
            sh(&["ip", "netns", "exec", &netns, "ip", "link", "set", &inner, "up"])?;
            sh(&["ip", "netns", "exec", &netns, "ip", "link", "set", "lo", "up"])?;
        }
        Ok(net)
    }

    pub fn host(&self, index: u8) -> &Host {
        &self.hosts[index as usize - 1]
    }

    /// Drops all traffic between `a` and `b`, both directions (rules installed on both sides).
    pub fn cut(&self, a: u8, b: u8) -> anyhow::Result<()> {
        for (x, y) in [(a, b), (b, a)] {
            let (hx, hy) = (self.host(x), self.host(y));
            sh(&["ip", "netns", "exec", &hx.netns, "iptables", "-A", "INPUT", "-s", &hy.ip, "-j", "DROP"])?;
            sh(&["ip", "netns", "exec", &hx.netns, "iptables", "-A", "OUTPUT", "-d", &hy.ip, "-j", "DROP"])?;
        }
        Ok(())
    }

    /// Isolates `a` from every other host (the harness, on the bridge, still reaches it).
    pub fn isolate(&self, a: u8) -> anyhow::Result<()> {
        for h in &self.hosts {
            if h.index != a {
                self.cut(a, h.index)?;
            }
        }
        Ok(())
    }

    /// Removes every partition rule.
    pub fn heal(&self) -> anyhow::Result<()> {
        for h in &self.hosts {
            sh(&["ip", "netns", "exec", &h.netns, "iptables", "-F"])?;
        }
        Ok(())
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for h in &self.hosts {
            let _ = sh(&["ip", "netns", "del", &h.netns]);
        }
        let _ = sh(&["iptables", "-D", "FORWARD", "-i", &self.bridge, "-o", &self.bridge, "-j", "ACCEPT"]);
        let _ = sh(&["ip", "link", "del", &self.bridge]);
    }
}
