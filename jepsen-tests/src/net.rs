//! Test hosts: one Linux network namespace per master, joined by veth pairs to a bridge in the
//! root namespace, each with its own address. Partitions are iptables DROP rules inside the
//! namespaces (silent drops, like a real network fault). Everything is removed on drop.
//!
//! Per-link proxies ([`crate::proxy`]) sit in the root namespace: a DNAT rule in host `a`'s
//! `nat OUTPUT` chain sends `a`'s connections to `b:7700` to the proxy on the bridge, and the
//! proxy connects to `b` from `a`'s *alias* address ([`Net::alias_ip`], one extra bridge address
//! per host). A partition rule therefore matches a peer by three shapes — its own address, its
//! alias, and the conntrack original destination — so drops hold whether or not a link is
//! proxied. One difference remains on proxied links: the proxy accepts a connection before it
//! knows whether the far side is reachable, so a dropped peer looks like "connected, then closed
//! after the proxy's 3 s connect timeout" instead of a silent SYN timeout.

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
    /// `10.77.S`: the /24 every address here is in.
    prefix: String,
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
        // Unique per process and per call, so tests in one binary can run side by side.
        static CREATED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let seq = CREATED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 10;
        let pid = std::process::id();
        let tag = format!("jt{}{seq}", pid % 100_000);
        let subnet = ((pid + seq * 37) % 200) as u8 + 20;
        let bridge = format!("{tag}br");
        let bridge_ip = format!("10.77.{subnet}.254");
        let prefix = format!("10.77.{subnet}");
        let mut net =
            Net { tag: tag.clone(), bridge: bridge.clone(), bridge_ip: bridge_ip.clone(), prefix, hosts: Vec::new() };
        sh(&["ip", "link", "add", &bridge, "type", "bridge"])?;
        // The bridge address first: it stays the primary, so harness connections use it as
        // their source and partitions (which match aliases) never cut the harness off.
        sh(&["ip", "addr", "add", &format!("{bridge_ip}/24"), "dev", &bridge])?;
        for i in 1..=n {
            sh(&["ip", "addr", "add", &format!("{}/24", net.alias_ip(i)), "dev", &bridge])?;
        }
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

    /// The root-namespace address proxies use as the source of traffic that left host `i`.
    pub fn alias_ip(&self, i: u8) -> String {
        format!("{}.{}", self.prefix, 100 + u16::from(i))
    }

    /// Drops every packet from `from` to `to` (one direction): in `from`'s `OUTPUT` and in
    /// `to`'s `INPUT`, matching the peer directly, through its proxy alias, and by conntrack
    /// original destination (proxied connections).
    pub fn drop_link(&self, from: u8, to: u8) -> anyhow::Result<()> {
        let (hf, ht) = (self.host(from), self.host(to));
        let (alias_from, alias_to) = (self.alias_ip(from), self.alias_ip(to));
        let rules: [(&Host, &str, [&str; 4]); 6] = [
            (hf, "OUTPUT", ["-d", &ht.ip, "", ""]),
            (hf, "OUTPUT", ["-d", &alias_to, "", ""]),
            (hf, "OUTPUT", ["-m", "conntrack", "--ctorigdst", &ht.ip]),
            (ht, "INPUT", ["-s", &hf.ip, "", ""]),
            (ht, "INPUT", ["-s", &alias_from, "", ""]),
            (ht, "INPUT", ["-m", "conntrack", "--ctorigdst", &hf.ip]),
        ];
        for (h, chain, m) in rules {
            let mut args = vec!["ip", "netns", "exec", &h.netns, "iptables", "-A", chain];
            args.extend(m.iter().copied().filter(|a| !a.is_empty()));
            args.extend(["-j", "DROP"]);
            sh(&args)?;
        }
        Ok(())
    }

    /// Drops all traffic between `a` and `b`, both directions (rules installed on both sides).
    pub fn cut(&self, a: u8, b: u8) -> anyhow::Result<()> {
        self.drop_link(a, b)?;
        self.drop_link(b, a)
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

    /// Removes every partition rule (the filter table; proxy redirections stay).
    pub fn heal(&self) -> anyhow::Result<()> {
        for h in &self.hosts {
            sh(&["ip", "netns", "exec", &h.netns, "iptables", "-F"])?;
        }
        Ok(())
    }

    /// Sends `from`'s new TCP connections to `to:port` to `via` (a proxy on the bridge) instead.
    /// Connections open before the rule keep their path: install before the cluster starts.
    pub fn redirect(&self, from: u8, to: u8, port: u16, via: std::net::SocketAddr) -> anyhow::Result<()> {
        let (hf, ht) = (self.host(from), self.host(to));
        let port = port.to_string();
        let via = via.to_string();
        sh(&[
            "ip",
            "netns",
            "exec",
            &hf.netns,
            "iptables",
            "-t",
            "nat",
            "-A",
            "OUTPUT",
            "-d",
            &ht.ip,
            "-p",
            "tcp",
            "--dport",
            &port,
            "-j",
            "DNAT",
            "--to-destination",
            &via,
        ])?;
        Ok(())
    }

    /// Removes every proxy redirection.
    pub fn clear_redirects(&self) -> anyhow::Result<()> {
        for h in &self.hosts {
            sh(&["ip", "netns", "exec", &h.netns, "iptables", "-t", "nat", "-F", "OUTPUT"])?;
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
