//! A userspace TCP proxy for one directed link: the kernel here has no `netem`, so latency,
//! stalls and mid-stream connection loss are made by forwarding bytes ourselves.
//!
//! A [`Proxy`] listens on the bridge (root namespace), and for every accepted connection opens
//! one to its target, optionally from a chosen source address (the sending host's alias, so
//! partition rules still recognise the traffic; see [`crate::net`]). Two pumps copy bytes, one
//! per direction, and consult the current [`Mode`] before each chunk:
//!
//! - [`Mode::Pass`]: forward at once.
//! - [`Mode::Delay`]: sleep before forwarding each chunk (a chunk is one `read`, ≤ 16 KiB).
//! - [`Mode::Stall`]: hold the chunk and stop reading, so TCP back-pressure reaches the sender;
//!   connections stay open and silent. Held bytes flow when the mode changes (nothing is lost).
//! - [`Mode::DropAfter`]: each connection may carry `n` more bytes (both directions together,
//!   counted from when the mode was set); then both sides are closed. New connections get the
//!   same budget.
//!
//! Mode changes apply to open connections at their next chunk. Dropping the [`Proxy`] stops the
//! listener and every connection.

use std::io;
use std::net::IpAddr;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpListener;
use tokio::net::TcpSocket;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::task::JoinSet;

/// How the proxy treats bytes right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    Delay(Duration),
    Stall,
    DropAfter(u64),
}

/// What went through a proxy since it started.
#[derive(Debug, Default)]
struct Counters {
    /// Bytes client → target.
    forward: AtomicU64,
    /// Bytes target → client.
    backward: AtomicU64,
    connections: AtomicU64,
    /// Connections closed by [`Mode::DropAfter`].
    dropped: AtomicU64,
}

/// The mode with an epoch, bumped on every change (a [`Mode::DropAfter`] budget restarts).
type ModeCell = (Mode, u64);

/// One directed link's proxy.
pub struct Proxy {
    addr: SocketAddr,
    target: SocketAddr,
    mode: watch::Sender<ModeCell>,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Listens on `listen` (port 0: any) and forwards to `target`, connecting from `source`
    /// when given. Starts in [`Mode::Pass`].
    pub async fn start(listen: SocketAddr, source: Option<IpAddr>, target: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let (mode, rx) = watch::channel((Mode::Pass, 0));
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(serve(listener, source, target, rx, counters.clone()));
        Ok(Proxy { addr, target, mode, counters, task })
    }

    /// Where the proxy listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn target(&self) -> SocketAddr {
        self.target
    }

    pub fn set_mode(&self, m: Mode) {
        self.mode.send_modify(|(mode, epoch)| {
            *mode = m;
            *epoch += 1;
        });
    }

    pub fn mode(&self) -> Mode {
        self.mode.borrow().0
    }

    /// Bytes forwarded client → target.
    pub fn bytes_forward(&self) -> u64 {
        self.counters.forward.load(Ordering::Relaxed)
    }

    /// Bytes forwarded target → client.
    pub fn bytes_backward(&self) -> u64 {
        self.counters.backward.load(Ordering::Relaxed)
    }

    /// Connections accepted.
    pub fn connections(&self) -> u64 {
        self.counters.connections.load(Ordering::Relaxed)
    }

    /// Connections closed by [`Mode::DropAfter`].
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // The listener task owns the connections' JoinSet: aborting it ends them all.
        self.task.abort();
    }
}

async fn serve(
    listener: TcpListener,
    source: Option<IpAddr>,
    target: SocketAddr,
    mode: watch::Receiver<ModeCell>,
    counters: Arc<Counters>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((client, _)) => {
                    counters.connections.fetch_add(1, Ordering::Relaxed);
                    conns.spawn(connection(client, source, target, mode.clone(), counters.clone()));
                }
                // Out of descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn connect(source: Option<IpAddr>, target: SocketAddr) -> io::Result<TcpStream> {
    let socket = if target.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    match tokio::time::timeout(Duration::from_secs(3), socket.connect(target)).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
    }
}

/// A connection's [`Mode::DropAfter`] budget: bytes used in which mode epoch.
#[derive(Default)]
struct Budget {
    epoch: u64,
    used: u64,
}

impl Budget {
    /// How many of `n` bytes may pass under a limit of `limit` in `epoch`.
    fn take(&mut self, epoch: u64, limit: u64, n: usize) -> usize {
        if self.epoch != epoch {
            self.epoch = epoch;
            self.used = 0;
        }
        let allowed = limit.saturating_sub(self.used).min(n as u64);
        self.used += allowed;
        allowed as usize
    }
}

async fn connection(
    client: TcpStream,
    source: Option<IpAddr>,
    target: SocketAddr,
    mode: watch::Receiver<ModeCell>,
    counters: Arc<Counters>,
) {
    let Ok(server) = connect(source, target).await else { return };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let budget = Mutex::new(Budget { epoch: u64::MAX, used: 0 });
    let (close, _) = watch::channel(false);
    let fwd =
        Pump { mode: mode.clone(), budget: &budget, bytes: &counters.forward, counters: &counters, close: &close };
    let back = Pump { mode, budget: &budget, bytes: &counters.backward, counters: &counters, close: &close };
    tokio::join!(fwd.run(cr, sw), back.run(sr, cw));
}

/// One direction of a connection.
struct Pump<'a> {
    mode: watch::Receiver<ModeCell>,
    budget: &'a Mutex<Budget>,
    bytes: &'a AtomicU64,
    counters: &'a Counters,
    /// Set when either direction decides the connection is over.
    close: &'a watch::Sender<bool>,
}

/// What to do with a chunk that was read.
enum Verdict {
    Forward(usize),
    /// Forward this many bytes, then close both sides.
    Cut(usize),
    Stop,
}

impl Pump<'_> {
    async fn run(mut self, mut r: OwnedReadHalf, mut w: OwnedWriteHalf) {
        let mut closed = self.close.subscribe();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = tokio::select! {
                res = r.read(&mut buf) => match res {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                },
                _ = closed.wait_for(|c| *c) => return,
            };
            let (n, last) = match self.verdict(n, &mut closed).await {
                Verdict::Forward(n) => (n, false),
                Verdict::Cut(n) => (n, true),
                Verdict::Stop => return,
            };
            if n > 0 {
                if w.write_all(&buf[..n]).await.is_err() {
                    self.close.send_replace(true);
                    return;
                }
                self.bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            if last {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                self.close.send_replace(true);
                return;
            }
        }
        // EOF from this side: pass the half-close on, let the other direction finish.
        let _ = w.shutdown().await;
    }

    /// Waits out stalls and delays for a chunk of `n` bytes.
    async fn verdict(&mut self, n: usize, closed: &mut watch::Receiver<bool>) -> Verdict {
        loop {
            let (mode, epoch) = *self.mode.borrow_and_update();
            match mode {
                Mode::Pass => return Verdict::Forward(n),
                Mode::Delay(d) => {
                    tokio::select! {
                        _ = tokio::time::sleep(d) => return Verdict::Forward(n),
                        _ = closed.wait_for(|c| *c) => return Verdict::Stop,
                    }
                }
                Mode::Stall => {
                    tokio::select! {
                        r = self.mode.changed() => if r.is_err() { return Verdict::Stop },
                        _ = closed.wait_for(|c| *c) => return Verdict::Stop,
                    }
                }
                Mode::DropAfter(limit) => {
                    let allowed = match self.budget.lock() {
                        Ok(mut b) => b.take(epoch, limit, n),
                        Err(_) => 0,
                    };
                    return if allowed < n { Verdict::Cut(allowed) } else { Verdict::Forward(n) };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on loopback; returns its address.
    async fn echo() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn roundtrip(s: &mut TcpStream, msg: &[u8], within: Duration) -> io::Result<Vec<u8>> {
        s.write_all(msg).await?;
        let mut got = vec![0u8; msg.len()];
        tokio::time::timeout(within, s.read_exact(&mut got))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer"))??;
        Ok(got)
    }

    #[tokio::test]
    async fn pass_stall_delay_and_drop_after() {
        let target = echo().await;
        let p = Proxy::start("127.0.0.1:0".parse().expect("addr"), None, target).await.expect("proxy");
        let mut s = TcpStream::connect(p.addr()).await.expect("connect");
        assert_eq!(roundtrip(&mut s, b"hello", Duration::from_secs(2)).await.expect("pass"), b"hello");
        assert_eq!((p.bytes_forward(), p.bytes_backward(), p.connections()), (5, 5, 1));

        p.set_mode(Mode::Stall);
        let err = roundtrip(&mut s, b"stuck", Duration::from_millis(300)).await;
        assert!(err.is_err(), "a stalled link answered");
        p.set_mode(Mode::Pass);
        let mut held = [0u8; 5];
        tokio::time::timeout(Duration::from_secs(2), s.read_exact(&mut held)).await.expect("held bytes").expect("read");
        assert_eq!(&held, b"stuck");

        p.set_mode(Mode::Delay(Duration::from_millis(150)));
        let t = std::time::Instant::now();
        roundtrip(&mut s, b"slow", Duration::from_secs(3)).await.expect("delayed");
        assert!(t.elapsed() >= Duration::from_millis(300), "two delayed chunks took {:?}", t.elapsed());

        p.set_mode(Mode::DropAfter(3));
        s.write_all(b"abcdef").await.expect("write");
        let mut rest = Vec::new();
        let r = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut rest)).await.expect("closed in time");
        assert!(r.is_ok() || rest.len() <= 3, "got {rest:?}");
        assert!(rest.len() <= 3, "more than the budget came back: {rest:?}");
        assert_eq!(p.dropped(), 1);
    }

    #[test]
    fn budget_restarts_with_the_epoch() {
        let mut b = Budget { epoch: u64::MAX, used: 0 };
        assert_eq!(b.take(1, 10, 4), 4);
        assert_eq!(b.take(1, 10, 8), 6);
        assert_eq!(b.take(1, 10, 8), 0);
        assert_eq!(b.take(2, 10, 8), 8);
    }
}
