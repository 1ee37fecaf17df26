//! The outgoing side: openraft's `RaftNetworkFactory` and `RaftNetworkV2` over reqwest.

use std::future::Future;
use std::time::Duration;

use openraft::errors::NetworkError;
use openraft::errors::RPCError;
use openraft::errors::RaftError;
use openraft::errors::ReplicationClosed;
use openraft::errors::StreamingError;
use openraft::errors::Unreachable;
use openraft::network::v2::RaftNetworkV2;
use openraft::network::RPCOption;
use openraft::network::RaftNetworkFactory;
use openraft::raft::AppendEntriesRequest;
use openraft::raft::AppendEntriesResponse;
use openraft::raft::SnapshotResponse;
use openraft::raft::TransferLeaderRequest;
use openraft::raft::TransferLeaderResponse;
use openraft::raft::VoteRequest;
use openraft::raft::VoteResponse;
use openraft::BasicNode;
use openraft::OptionalSend;
use raft_store::typ::Snapshot;
use raft_store::typ::Vote;
use raft_store::NodeId;
use raft_store::TypeConfig;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::ClockReading;
use crate::node::PeerOverrides;
use crate::secrets::Secret;

/// Builds one [`PeerClient`] per target master.
#[derive(Clone)]
pub struct NetworkFactory {
    http: reqwest::Client,
    secret: Secret,
    overrides: PeerOverrides,
    min_deadline: Duration,
}

impl NetworkFactory {
    /// `min_deadline` (`raft.rpc_timeout_ms`) is the shortest deadline any RPC gets: openraft
    /// hands appends a TTL of one heartbeat interval, and an HTTP deadline that short would make
    /// every append on a link slower than the heartbeat (a WAN hop, a big batch, an egg) time out
    /// for ever — no write would commit and no election would fix it.
    pub fn new(http: reqwest::Client, secret: Secret, overrides: PeerOverrides, min_deadline: Duration) -> Self {
        Self { http, secret, overrides, min_deadline }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Self::Network {
        let base =
            self.overrides.read().ok().and_then(|o| o.get(&target).cloned()).unwrap_or_else(|| node.addr.clone());
        PeerClient {
            base: base.trim_end_matches('/').to_string(),
            target,
            http: self.http.clone(),
            secret: self.secret.clone(),
            min_deadline: self.min_deadline,
        }
    }
}

/// The connection to one peer master.
pub struct PeerClient {
    base: String,
    target: NodeId,
    http: reqwest::Client,
    secret: Secret,
    min_deadline: Duration,
}

fn transport_error(e: &reqwest::Error) -> RPCError<TypeConfig> {
    if e.is_connect() {
        RPCError::Unreachable(Unreachable::new(e))
    } else {
        RPCError::Network(NetworkError::new(e))
    }
}

impl PeerClient {
    async fn call<Req, Resp>(&self, path: &str, req: &Req, ttl: Duration) -> Result<Resp, RPCError<TypeConfig>>
    where
        Req: Serialize,
        Result<Resp, RaftError<TypeConfig>>: DeserializeOwned,
    {
        let url = format!("{}/raft/{path}", self.base);
        let resp = self
            .http
            .post(&url)
            .bearer_auth(&self.secret.0)
            .json(req)
            .timeout(ttl.max(self.min_deadline))
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(RPCError::Network(NetworkError::from_string(format!(
                "HTTP {status} from master {} at {url}",
                self.target
            ))));
        }
        let res: Result<Resp, RaftError<TypeConfig>> =
            resp.json().await.map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        res.map_err(|e| RPCError::Network(NetworkError::from_string(format!("master {}: {e}", self.target))))
    }
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = Vec<u8>;

    async fn append_entries(
        &mut self,
        req: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call("append", &req, option.hard_ttl()).await
    }

    async fn vote(
        &mut self,
        req: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call("vote", &req, option.hard_ttl()).await
    }

    async fn pre_vote(
        &mut self,
        req: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call("pre-vote", &req, option.hard_ttl()).await
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call("transfer-leader", &req, option.hard_ttl()).await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let meta =
            serde_json::to_vec(&(vote, &snapshot.meta)).map_err(|e| StreamingError::Network(NetworkError::new(&e)))?;
        let body = super::frame_snapshot(&meta, &snapshot.snapshot);
        let url = format!("{}/raft/snapshot", self.base);
        let send = self.http.post(&url).bearer_auth(&self.secret.0).body(body).timeout(option.hard_ttl()).send();
        let resp = tokio::select! {
            closed = cancel => return Err(StreamingError::Closed(closed)),
            r = send => r,
        };
        let resp = resp.map_err(|e| match transport_error(&e) {
            RPCError::Unreachable(u) => StreamingError::Unreachable(u),
            _ => StreamingError::Network(NetworkError::new(&e)),
        })?;
        let status = resp.status();
        if !status.is_success() {
            return Err(StreamingError::Network(NetworkError::from_string(format!("HTTP {status} from {url}"))));
        }
        let res: Result<SnapshotResponse<TypeConfig>, String> =
            resp.json().await.map_err(|e| StreamingError::Network(NetworkError::new(&e)))?;
        res.map_err(|e| StreamingError::Network(NetworkError::from_string(e)))
    }
}

/// Asks the master at `base` (its advertised URL) for its scheduler clock (`GET /raft/clock`,
/// with the cluster secret).
pub async fn peer_clock(
    http: &reqwest::Client,
    base: &str,
    secret: &Secret,
    timeout: Duration,
) -> Result<ClockReading, String> {
    let url = format!("{}/raft/clock", base.trim_end_matches('/'));
    let resp = http.get(&url).bearer_auth(&secret.0).timeout(timeout).send().await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {} from {url}", resp.status()));
    }
    resp.json::<ClockReading>().await.map_err(|e| format!("{url}: {e}"))
}
