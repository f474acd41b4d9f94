//! Peer-to-peer job data. Every node runs an iroh endpoint (QUIC; relays and hole punching on
//! real networks, direct loopback on the local one) whose identity is derived from its wallet key,
//! so it is stable across restarts and never stored.
//!
//! The buyer's endpoint id goes on chain with the job (`dataPeer`). Two exchanges, each a signed
//! request on [`JOB_ALPN`] followed by a BLAKE3-verified iroh-blobs transfer of a sealed blob:
//!
//! - **Job cards.** Before it claims a job, a provider that the market finds eligible for it asks
//!   its buyer for the job's card (a signed request, as for the data): the manifest, which it
//!   checks against the job's spec hash, and the package's folders and size. It claims only a
//!   job it can run now (an embed job's model in the package or in its model cache, say). The
//!   card holds no input data; it goes only to an address the market would let claim the job
//!   now (the job open, its claim window too), so a manifest is public to the staked providers
//!   that fit it.
//! - **Job data.** A provider that claimed the job asks the buyer for it, signing the request
//!   with its wallet key and binding it to its endpoint id. The buyer checks, on chain, that the
//!   signer is a claimant of its job, seals the package to the signer's public key (recovered from
//!   the signature) and answers with the sealed blob's hash, signed in turn: the provider learns
//!   the buyer's public key and that it speaks to the job's buyer. The provider fetches the blob,
//!   opens it and checks it against the job's `dataRoot`. The jurors of a job's court game get
//!   the data the same way, from the buyer or from any of the job's replicas (at the endpoint
//!   each announced on chain, `PeerAnnounced`): a buyer that withholds it cannot leave them
//!   unable to check the step in dispute.
//! - **Results.** After its reveal the provider seals its result bundle to the buyer's key and
//!   offers it (job, result root, blob hash, signed). The buyer fetches it from the provider,
//!   opens it, checks that its files hash to the offered root and files it under
//!   `results/<root>` in its own blob store, where it looks for the agreed root.
//!
//! - **Commitments.** A provider may hand the buyer its signed commitment together with the
//!   reveal (root, work units, salt): the buyer checks both against the claimant and submits
//!   every selected replica's in one `commitSigned`, then their reveals in one `revealBatch`
//!   (which settles), so a job with k replicas takes two blocks instead of 2k (the job's trail
//!   admits one commit or reveal per block). The buyer already holds the results by then, so it
//!   learns nothing the reveal would hide from it; a provider whose relayed commitment does not
//!   land in time commits and reveals itself.
//!
//! Only ciphertexts ever enter the transfer store, so a peer that is not the reader learns
//! nothing but sizes. A node's own plaintexts live in its [`BlobStore`] under its data folder.
//!
//! On a network whose RPC is on this machine (the embedded local network), endpoints bind to
//! loopback with no relay and no discovery service, and find each other in an address book
//! beside the network profile (the local stand-in for DNS discovery).

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use alloy::{
    primitives::{Address, B256, Bytes, Signature, U256, eip191_hash_message},
    signers::{SignerSync, local::PrivateKeySigner},
};
use gridmint_chain::bindings::Gridmint::JobPosted;
use iroh::{
    Endpoint, EndpointAddr, EndpointId, RelayMode, SecretKey,
    endpoint::{Connection, PortmapperConfig, presets},
    protocol::{AcceptError, ProtocolHandler, Router},
};
use iroh_blobs::{
    BlobsProtocol,
    store::{GcConfig, mem::MemStore},
};
use serde::{Deserialize, Serialize};

use crate::{
    PeerError,
    exchange::{self, BlobStore},
    seal,
};
use answers::JobData;

mod address_book;
mod answers;
mod guards;
mod transfer;
use address_book::{AddressBook, endpoint_addr};
use guards::Guards;
use transfer::{data_tag, data_tag_prefix, fetch};

/// The chain and the market an endpoint speaks for: every signed statement names both, so it
/// cannot be replayed on another network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Domain {
    pub chain_id: u64,
    pub market: Address,
}

/// What an endpoint needs from its network: the wallet it signs with, the market it speaks for,
/// and the chain's word on a job (its posting, its claimants and replicas). The node's `Network` implements
/// it; the endpoint knows nothing else of the chain.
pub trait Ledger: Send + Sync + std::fmt::Debug + 'static {
    /// This node's wallet key: it signs statements and opens what is sealed to this node.
    fn signer(&self) -> &PrivateKeySigner;
    fn domain(&self) -> Domain;
    /// The job's buyer and which of its claimants are its replicas (bit i set: claimant i was
    /// drawn and has not left; 0 until the claim window closed and the draw ran), from its
    /// storage slot (one call, no log query); a zero buyer if there is no such job. What a
    /// request is checked against before anything costlier.
    fn job_slot(&self, job_id: U256) -> impl std::future::Future<Output = Result<(Address, u32), PeerError>> + Send;
    /// The job's posting, `None` if there is no such job.
    fn posted_job(
        &self,
        job_id: U256,
    ) -> impl std::future::Future<Output = Result<Option<JobPosted>, PeerError>> + Send;
    /// The job's claimants, in claim order.
    fn claimants(&self, job_id: U256) -> impl std::future::Future<Output = Result<Vec<Address>, PeerError>> + Send;
    /// Whether `who` may claim the job now (the market's eligibility for its requirements): who
    /// may read its card before claiming. Nobody by default.
    fn may_claim(
        &self,
        job_id: U256,
        who: Address,
    ) -> impl std::future::Future<Output = Result<bool, PeerError>> + Send {
        let _ = (job_id, who);
        async { Ok(false) }
    }
    /// Whether `who` may judge the step of the job's current court game (it re-runs one step, so
    /// it gets the job's data too): a juror seated, or a member of the jury pool that could take a
    /// seat now. Nobody by default.
    fn may_judge(
        &self,
        job_id: U256,
        who: Address,
    ) -> impl std::future::Future<Output = Result<bool, PeerError>> + Send {
        let _ = (job_id, who);
        async { Ok(false) }
    }
}

/// Who a request about a job must come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Party {
    /// Any claimant (a commitment handed over: the market checks the selection itself).
    Claimant,
    /// One of the replicas drawn: only they deliver results, and with a court game's jurors only
    /// they get the job's data, so a claimant that was not drawn (any staked address can claim)
    /// never sees the buyer's inputs outside a court game.
    Replica,
    /// A replica drawn, or a juror of the job's current court game: seated, or a pool member
    /// that could take a seat now (it re-runs one step).
    ReplicaOrJuror,
}

/// A check the buyer's endpoint runs on each result it accepts (the node's spot check): it
/// re-runs a sample of the job whose package bundle is `package` and compares with `result`.
pub trait ResultCheck: Send + Sync + std::fmt::Debug + 'static {
    fn check(&self, package: &[u8], result: &[(String, Vec<u8>)]) -> Result<SpotOutcome, CheckFailed>;
}

/// What a spot check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpotOutcome {
    /// The sampled rows (0-based input lines; for a training run, epoch 0, the first) match bit
    /// for bit.
    Agrees { rows: Vec<usize> },
    /// This row (or epoch) of the result is not what the buyer's own run gives.
    Differs { row: usize },
    /// Nothing to sample in this job.
    NotSampled { reason: String },
    /// The delivered result is not this job's output (a file missing, or not what the job kind
    /// writes): the providers' fault, as good as a wrong result.
    Unreadable { reason: String },
}

/// Why a spot check could not run (the package did not open on this node, the device failed):
/// not the providers' fault, and not a verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CheckFailed {
    pub message: String,
}

/// The job-data protocol: signed requests for a job's data and offers of results.
pub const JOB_ALPN: &[u8] = b"gridmint/job/1";
const MAX_MESSAGE: usize = 64 * 1024;
/// How long one exchange (request, transfer, answer) may take before it is given up and retried.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long reaching a peer may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the transfer store collects the blobs no tag holds.
pub const TRANSFER_GC_INTERVAL: Duration = Duration::from_secs(2);
/// The longest a request is answered in (a result of the largest size, fetched at the slowest
/// pace taken, and its checks).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// A fetch may take this long, plus a second per MiB.
const FETCH_GRACE: Duration = Duration::from_secs(60);
/// The most a job's data may hold (as the buyer's package limit).
pub const MAX_DATA_BYTES: u64 = 4 << 30;
/// The most a device check's openings may hold: 48 sampled rows, each with ten rows of at most
/// 4,096 floats and their proofs (as JSON, about 40 MiB at the largest block side).
pub const MAX_OPENINGS_BYTES: u64 = 128 << 20;
/// Where a provider keeps its device check's openings in its blob store.
fn openings_name(root: B256) -> String {
    format!("check/{root:x}")
}
/// The most a job card's answer may hold: a manifest of at most 64 KiB, and the package's folders.
const MAX_CARD_MESSAGE: usize = 1 << 20;
/// How long a buyer has to answer for its job's card: a provider reads cards as it scans the
/// market, one posting after another.
const CARD_TIMEOUT: Duration = Duration::from_secs(15);
/// Where a buyer keeps the card of the job whose data is `data_root` in its blob store.
fn card_name(data_root: B256) -> String {
    format!("cards/{data_root:x}")
}
/// The most a result bundle may hold (as [`exchange::BundleLimits::DEFAULT`]).
pub const MAX_RESULT_BYTES: u64 = exchange::BundleLimits::DEFAULT.max_bytes;

async fn connect(endpoint: &Endpoint, to: EndpointAddr, alpn: &[u8]) -> Result<Connection, PeerError> {
    let id = to.id;
    match tokio::time::timeout(CONNECT_TIMEOUT, endpoint.connect(to, alpn)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(peer_error(format!("cannot reach peer {}: {e}", id.fmt_short()))),
        Err(_) => Err(peer_error(format!("cannot reach peer {} in {CONNECT_TIMEOUT:?}", id.fmt_short()))),
    }
}

fn peer_error(message: impl Into<String>) -> PeerError {
    PeerError::Exchange { message: message.into() }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
enum Request {
    /// A claimant asks for a job's data.
    Data { job_id: U256, signature: Bytes },
    /// A provider offers its result.
    Result { job_id: U256, root: B256, blob: B256, signature: Bytes },
    /// A provider hands over its signed commitment and the reveal that opens it.
    Commit { job_id: U256, index: U256, commitment: B256, signature: Bytes, root: B256, work_units: u64, salt: B256 },
    /// A provider that may claim a job asks its buyer for the job's card.
    Card { job_id: U256, signature: Bytes },
    /// Anyone asks a provider for the openings of its device check's answer `root` (the rows its
    /// jury samples; they prove themselves against the root on chain, so they are no secret).
    Openings { root: B256 },
}

/// A replica's commitment and reveal, as its provider handed them to the buyer.
#[derive(Debug, Clone)]
pub struct Relayed {
    pub signed: gridmint_chain::bindings::Gridmint::SignedCommit,
    pub reveal: gridmint_chain::bindings::Gridmint::Reveal,
}

/// What the buyer's endpoint holds for the chain: per job, per claimant index.
type RelayBook = Arc<std::sync::Mutex<std::collections::BTreeMap<U256, std::collections::BTreeMap<U256, Relayed>>>>;

/// Wakes the buyer's loop when a commitment arrives (the last one completes a batch).
type RelayBell = Arc<tokio::sync::Notify>;

/// A finished spot check: its outcome, or why it could not run.
type SpotResult = Result<SpotOutcome, CheckFailed>;
/// Per (job, result root): `None` while the check runs.
type SpotBook = std::collections::BTreeMap<(U256, B256), Option<SpotResult>>;

/// The buyer's spot checks: the checker, and per (job, result root) the outcome (`None` while
/// it runs; the error as text when the check itself failed).
#[derive(Debug, Default, Clone)]
struct Spots {
    checker: Arc<std::sync::OnceLock<Arc<dyn ResultCheck>>>,
    outcomes: Arc<std::sync::Mutex<SpotBook>>,
}

impl Spots {
    /// Starts the check of a delivered result (once per job and root), beside the endpoint.
    fn start(&self, job_id: U256, root: B256, package: Vec<u8>, result: Vec<(String, Vec<u8>)>) {
        let Some(checker) = self.checker.get().cloned() else { return };
        {
            let mut outcomes = crate::lock(&self.outcomes);
            if outcomes.contains_key(&(job_id, root)) {
                return;
            }
            outcomes.insert((job_id, root), None);
        }
        let outcomes = self.outcomes.clone();
        tokio::task::spawn_blocking(move || {
            let outcome = checker.check(&package, &result);
            tracing::info!(job = %job_id, %root, ?outcome, "spot check");
            crate::lock(&outcomes).insert((job_id, root), Some(outcome));
        });
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
enum Response {
    /// The job's data sealed to the asker, and the buyer's signature over the offer.
    Data {
        blob: B256,
        signature: Bytes,
    },
    /// The job's card (the manifest is checked against the job's spec hash by the asker).
    Card {
        card: gridmint_protocol::JobCard,
    },
    Accepted,
    Refused {
        message: String,
    },
}

/// What is signed: a readable message (EIP-191), bound to the chain, the market and the endpoint
/// that carries it, so it cannot be replayed elsewhere.
fn statement(d: &Domain, what: &str, job_id: U256, endpoint: &EndpointId, extra: &str) -> String {
    format!("Gridmint {what}\nchain {}\nmarket {}\njob {job_id}\nendpoint {endpoint}{extra}", d.chain_id, d.market)
}

fn sign(signer: &PrivateKeySigner, message: &str) -> Result<Bytes, PeerError> {
    let signature = signer.sign_message_sync(message.as_bytes()).map_err(|e| peer_error(format!("signing: {e}")))?;
    Ok(Bytes::from(signature.as_bytes().to_vec()))
}

/// The signer's address and public key.
fn recover(signature: &[u8], message: &str) -> Result<(Address, k256::PublicKey), PeerError> {
    let signature = Signature::from_raw(signature).map_err(|e| peer_error(format!("a malformed signature: {e}")))?;
    let key = signature
        .recover_from_prehash(&eip191_hash_message(message.as_bytes()))
        .map_err(|e| peer_error(format!("a signature that recovers no key: {e}")))?;
    let address = Address::from_public_key(&key);
    Ok((address, k256::PublicKey::from(&key)))
}

/// The buyer's endpoint, from the job's posting.
fn data_peer(posted: &JobPosted) -> Result<EndpointId, PeerError> {
    EndpointId::from_bytes(&posted.dataPeer.0)
        .map_err(|e| peer_error(format!("job {}: its dataPeer is not an endpoint id: {e}", posted.jobId)))
}

/// The wallet's secret key on the curve, for opening sealed blobs.
fn wallet_secret(signer: &PrivateKeySigner) -> k256::SecretKey {
    k256::SecretKey::from(signer.credential())
}

/// The endpoint key derived from a wallet key (one way: the endpoint key says nothing of it).
pub fn endpoint_key(signer: &PrivateKeySigner) -> SecretKey {
    let wallet = zeroize::Zeroizing::new(signer.to_bytes().0);
    SecretKey::from_bytes(&blake3::derive_key("gridmint 2026-11 iroh endpoint key", wallet.as_slice()))
}

/// A node's endpoint: the job-data protocol and the blob transfers behind it.
#[derive(Debug, Clone)]
pub struct Peer {
    router: Router,
    signer: PrivateKeySigner,
    domain: Domain,
    transfers: MemStore,
    local: BlobStore,
    book: Option<AddressBook>,
    relay: RelayBook,
    bell: RelayBell,
    spots: Spots,
    guards: Guards,
}

impl Peer {
    /// Binds the endpoint of `ledger`'s wallet, with the node's blob store under `data`. With
    /// `address_book` (a folder; the embedded local network), the endpoint binds to loopback with
    /// no relay and no discovery, and peers find each other's addresses in that folder.
    pub async fn start<L: Ledger>(ledger: L, data: &Path, address_book: Option<PathBuf>) -> Result<Self, PeerError> {
        let key = endpoint_key(ledger.signer());
        let (signer, domain) = (ledger.signer().clone(), ledger.domain());
        let local = address_book.is_some();
        let builder = if local {
            Endpoint::builder(presets::Minimal)
                .relay_mode(RelayMode::Disabled)
                .clear_address_lookup()
                .portmapper_config(PortmapperConfig::Disabled)
                .clear_ip_transports()
                .bind_addr("127.0.0.1:0")
                .map_err(|e| peer_error(format!("binding the endpoint: {e}")))?
        } else {
            Endpoint::builder(presets::N0)
        };
        let endpoint =
            builder
                .secret_key(key)
                .alpns(vec![JOB_ALPN.to_vec(), iroh_blobs::ALPN.to_vec()])
                .bind()
                .await
                .map_err(|e| PeerError::NetworkUnavailable { message: format!("the peer-to-peer endpoint: {e}") })?;
        let book = address_book.map(|dir| AddressBook { dir });
        if let Some(book) = &book {
            book.publish(&endpoint.id(), &endpoint.bound_sockets())?;
        }
        // Sealed blobs wait here for their reader; what no tag holds (a served job's data once
        // the job is forgotten, a delivered result, a fetched blob once read) is collected.
        let store = BlobStore::new(data.join("blobs"));
        match store.prune(std::time::SystemTime::now() - exchange::RETENTION) {
            Ok(pruned) if pruned.files > 0 => {
                tracing::info!(files = pruned.files, bytes = pruned.bytes, "pruned the store of old jobs' blobs");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not prune the store"),
        }
        let transfers = MemStore::new_with_opts(iroh_blobs::store::mem::Options {
            gc_config: Some(GcConfig { interval: TRANSFER_GC_INTERVAL, add_protected: None }),
        });
        let blobs = BlobsProtocol::new(&transfers, None);
        let relay = RelayBook::default();
        let bell = RelayBell::default();
        let spots = Spots::default();
        let guards = Guards::default();
        let handler = JobData {
            spots: spots.clone(),
            relay: relay.clone(),
            bell: bell.clone(),
            ledger,
            endpoint: endpoint.clone(),
            transfers: transfers.clone(),
            local: store.clone(),
            book: book.clone(),
            guards: guards.clone(),
        };
        let router =
            Router::builder(endpoint).accept(JOB_ALPN, Arc::new(handler)).accept(iroh_blobs::ALPN, blobs).spawn();
        tracing::info!(endpoint = %router.endpoint().id(), local, "peer endpoint up");
        Ok(Self { router, signer, domain, transfers, local: store, book, relay, bell, spots, guards })
    }

    /// This node's endpoint id: what a buyer puts on chain as the job's `dataPeer`.
    pub fn id(&self) -> EndpointId {
        self.router.endpoint().id()
    }

    /// The node's own content-addressed store (plaintexts: its packages, its results).
    pub fn local(&self) -> &BlobStore {
        &self.local
    }

    fn addr(&self, id: EndpointId) -> EndpointAddr {
        endpoint_addr(self.book.as_ref(), id)
    }

    async fn ask(&self, to: EndpointId, request: &Request) -> Result<Response, PeerError> {
        self.ask_within(to, request, MAX_MESSAGE).await
    }

    async fn ask_within(&self, to: EndpointId, request: &Request, limit: usize) -> Result<Response, PeerError> {
        let conn = connect(self.router.endpoint(), self.addr(to), JOB_ALPN).await?;
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| peer_error(format!("opening a stream: {e}")))?;
        let body = serde_json::to_vec(request).map_err(|e| peer_error(e.to_string()))?;
        send.write_all(&body).await.map_err(|e| peer_error(format!("sending: {e}")))?;
        send.finish().map_err(|e| peer_error(format!("sending: {e}")))?;
        let answer = recv.read_to_end(limit).await.map_err(|e| peer_error(format!("reading the answer: {e}")))?;
        conn.close(0u32.into(), b"done");
        serde_json::from_slice(&answer).map_err(|e| peer_error(format!("a malformed answer: {e}")))
    }

    /// Fetches a sealed blob of at most `max_bytes` from `from` and returns its bytes.
    async fn fetch(&self, from: EndpointId, blob: B256, max_bytes: u64) -> Result<Vec<u8>, PeerError> {
        fetch(self.router.endpoint(), &self.transfers, self.addr(from), blob, max_bytes).await
    }

    /// As a buyer: keeps the card of the job whose data is `data_root`, for the providers that
    /// may claim it (see [`Peer::fetch_job_card`]).
    pub fn publish_card(&self, data_root: B256, card: &gridmint_protocol::JobCard) -> Result<(), PeerError> {
        let bytes = serde_json::to_vec(card).map_err(|e| peer_error(format!("the job's card: {e}")))?;
        if bytes.len() > MAX_CARD_MESSAGE - 1024 {
            return Err(peer_error(format!(
                "the job's card is {} bytes (its manifest and the package's folders), over the {MAX_CARD_MESSAGE}-byte limit",
                bytes.len()
            )));
        }
        let hash = self.local.put(&bytes)?;
        self.local.link(&card_name(data_root), &hash)
    }

    /// As a provider that may claim `posted` (the market's eligibility): the job's card from its
    /// buyer, before claiming. Its manifest is checked against the job's spec hash; its folders
    /// and size are the buyer's word.
    pub async fn fetch_job_card(&self, posted: &JobPosted) -> Result<gridmint_protocol::JobCard, PeerError> {
        let job_id = posted.jobId;
        let signature = sign(&self.signer, &statement(&self.domain, "card request", job_id, &self.id(), ""))?;
        let request = Request::Card { job_id, signature };
        let asked = tokio::time::timeout(CARD_TIMEOUT, self.ask_within(data_peer(posted)?, &request, MAX_CARD_MESSAGE))
            .await
            .map_err(|_| peer_error(format!("job {job_id}: its buyer did not answer for the job's card in time")))?;
        match asked? {
            Response::Card { card } => {
                if alloy::primitives::keccak256(card.manifest.as_bytes()) != posted.specHash {
                    return Err(peer_error(format!(
                        "job {job_id}: the buyer's manifest does not hash to the job's spec hash"
                    )));
                }
                let limits = exchange::BundleLimits::DEFAULT;
                if let Some(flaw) = card.flaw(limits.max_entries, MAX_DATA_BYTES) {
                    return Err(peer_error(format!("job {job_id}: the buyer's card: {flaw}")));
                }
                Ok(card)
            }
            Response::Refused { message } => {
                Err(peer_error(format!("job {job_id}: the buyer refused the job's card: {message}")))
            }
            _ => Err(peer_error(format!("job {job_id}: an answer out of turn"))),
        }
    }

    /// As a claimant of `posted`: fetches the job's data from its buyer, checked against the
    /// job's data root. Returns the package bundle and the buyer's public key (results are sealed
    /// to it).
    pub async fn fetch_job_data(&self, posted: &JobPosted) -> Result<(Vec<u8>, k256::PublicKey), PeerError> {
        self.fetch_job_data_from(posted, data_peer(posted)?, posted.buyer, "the buyer").await
    }

    /// As a juror of the job's court game: fetches the job's data from one of its replicas,
    /// `replica` at the endpoint it announced on chain (`peer`), checked against the job's data
    /// root like the buyer's. The buyer may withhold it; a replica that fetched it can serve it.
    pub async fn fetch_job_data_from_replica(
        &self,
        posted: &JobPosted,
        replica: Address,
        peer: B256,
    ) -> Result<Vec<u8>, PeerError> {
        let endpoint = EndpointId::from_bytes(&peer.0).map_err(|e| {
            peer_error(format!("job {}: replica {replica} announced no endpoint id ({e})", posted.jobId))
        })?;
        Ok(self.fetch_job_data_from(posted, endpoint, replica, "the replica").await?.0)
    }

    /// The job's data from `server` (`who`: the address that must sign the offer), with the
    /// offerer's public key.
    async fn fetch_job_data_from(
        &self,
        posted: &JobPosted,
        server: EndpointId,
        who: Address,
        role: &str,
    ) -> Result<(Vec<u8>, k256::PublicKey), PeerError> {
        let job_id = posted.jobId;
        let signature = sign(&self.signer, &statement(&self.domain, "data request", job_id, &self.id(), ""))?;
        // The request has the exchange's bound; the transfer its own, from the blob's size.
        let asked = tokio::time::timeout(EXCHANGE_TIMEOUT, self.ask(server, &Request::Data { job_id, signature }))
            .await
            .map_err(|_| peer_error(format!("job {job_id}: {role} did not answer the data request in time")))?;
        let blob = match asked? {
            Response::Data { blob, signature } => {
                let offer = statement(&self.domain, "data offer", job_id, &self.id(), &format!("\nblob {blob}"));
                let (signer, key) = recover(&signature, &offer)?;
                if signer != who {
                    return Err(peer_error(format!(
                        "job {job_id}: the data was offered by {signer}, not {role} {who}"
                    )));
                }
                (blob, key)
            }
            Response::Refused { message } => {
                return Err(peer_error(format!("job {job_id}: {role} refused the data: {message}")));
            }
            Response::Accepted | Response::Card { .. } => {
                return Err(peer_error(format!("job {job_id}: an answer out of turn")));
            }
        };
        let sealed = self.fetch(server, blob.0, MAX_DATA_BYTES + seal::OVERHEAD).await?;
        let bundle = seal::open(&wallet_secret(&self.signer), &sealed)
            .map_err(|e| peer_error(format!("job {job_id}: the data: {e}")))?;
        let hash = blake3::hash(&bundle);
        if hash.as_bytes() != &posted.dataRoot.0 {
            return Err(peer_error(format!("job {job_id}: the data does not hash to the job's data root")));
        }
        self.local.put_hashed(&bundle, hash)?;
        Ok((bundle, blob.1))
    }

    /// As a juror of a device check: the openings of the provider's answer `root`, from the
    /// endpoint it announced on chain (`peer`). Unchecked: the juror checks them against the root.
    pub async fn fetch_openings(&self, provider: Address, peer: B256, root: B256) -> Result<Vec<u8>, PeerError> {
        let endpoint = EndpointId::from_bytes(&peer.0)
            .map_err(|e| peer_error(format!("provider {provider} announced no endpoint id ({e})")))?;
        let asked = tokio::time::timeout(EXCHANGE_TIMEOUT, self.ask(endpoint, &Request::Openings { root }))
            .await
            .map_err(|_| peer_error(format!("provider {provider} did not answer for its device check in time")))?;
        match asked? {
            Response::Data { blob, .. } => self.fetch(endpoint, blob, MAX_OPENINGS_BYTES).await,
            Response::Refused { message } => {
                Err(peer_error(format!("provider {provider} refused its device check's openings: {message}")))
            }
            Response::Accepted | Response::Card { .. } => {
                Err(peer_error(format!("provider {provider}: an answer out of turn")))
            }
        }
    }

    /// As a provider: keeps the openings of its device check's answer `root` for its jurors.
    pub fn keep_openings(&self, root: B256, openings: &[u8]) -> Result<(), PeerError> {
        let hash = self.local.put(openings)?;
        self.local.link(&openings_name(root), &hash)
    }

    /// As a provider after its reveal: seals the result bundle to the buyer and offers it; true
    /// once the buyer has it.
    pub async fn deliver_result(&self, posted: &JobPosted, root: B256, sealed: &[u8]) -> Result<(), PeerError> {
        let job_id = posted.jobId;
        let buyer = data_peer(posted)?;
        let tag = self.transfers.add_bytes(sealed.to_vec()).await.map_err(|e| peer_error(e.to_string()))?;
        let blob = B256::from(*tag.hash.as_bytes());
        let message = statement(&self.domain, "result", job_id, &self.id(), &format!("\nroot {root}\nblob {blob}"));
        let request = Request::Result { job_id, root, blob, signature: sign(&self.signer, &message)? };
        let answer = tokio::time::timeout(EXCHANGE_TIMEOUT, self.ask(buyer, &request))
            .await
            .map_err(|_| peer_error(format!("job {job_id}: delivering the result timed out")));
        let _ = self.transfers.tags().delete(tag.name).await;
        match answer?? {
            Response::Accepted => Ok(()),
            Response::Refused { message } => {
                Err(peer_error(format!("job {job_id}: the buyer refused the result: {message}")))
            }
            Response::Data { .. } | Response::Card { .. } => {
                Err(peer_error(format!("job {job_id}: an answer out of turn")))
            }
        }
    }

    /// As a provider: hands the buyer of `posted` this replica's signed commitment and its reveal;
    /// `Ok` once the buyer took them (it then submits them with the other replicas').
    pub async fn relay_commit(
        &self,
        posted: &JobPosted,
        index: U256,
        root: B256,
        work_units: u64,
        salt: B256,
    ) -> Result<(), PeerError> {
        let job_id = posted.jobId;
        let buyer = data_peer(posted)?;
        let commitment = gridmint_chain::commitment(root, work_units, salt, self.signer.address());
        let d = &self.domain;
        let signed = gridmint_chain::sign_commit(&self.signer, d.chain_id, d.market, job_id, index, commitment).await?;
        let request =
            Request::Commit { job_id, index, commitment, signature: signed.signature, root, work_units, salt };
        match tokio::time::timeout(CONNECT_TIMEOUT, self.ask(buyer, &request))
            .await
            .map_err(|_| peer_error(format!("job {job_id}: relaying the commitment timed out")))??
        {
            Response::Accepted => Ok(()),
            Response::Refused { message } => {
                Err(peer_error(format!("job {job_id}: the buyer refused the commitment: {message}")))
            }
            Response::Data { .. } | Response::Card { .. } => {
                Err(peer_error(format!("job {job_id}: an answer out of turn")))
            }
        }
    }

    /// As a buyer: the commitments and reveals the providers of `job_id` handed over.
    pub fn relayed(&self, job_id: U256) -> std::collections::BTreeMap<U256, Relayed> {
        crate::lock(&self.relay).get(&job_id).cloned().unwrap_or_default()
    }

    /// As a buyer: waits up to `timeout` for a provider to hand over a commitment.
    pub async fn relay_arrival(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.bell.notified()).await;
    }

    /// As a replica: this node holds the job's data (it fetched it to compute, before a restart
    /// too), so it serves it to the jurors of the job's court games until the job is forgotten.
    pub fn computed_job(&self, job_id: U256) {
        self.guards.computed(job_id);
    }

    /// The job is over (as a buyer: settled and its result taken; as a replica: settled, its
    /// court games too). Nothing more is served or taken for it; its relayed commitments, spot
    /// checks and the record of who delivered go, and so do the sealed copies of its data made
    /// for its replicas or jurors (collected from the transfer store at its next sweep).
    pub async fn forget_job(&self, job_id: U256) {
        self.guards.end(job_id);
        crate::lock(&self.relay).remove(&job_id);
        crate::lock(&self.spots.outcomes).retain(|(job, _), _| *job != job_id);
        if let Err(e) = self.transfers.tags().delete_prefix(data_tag_prefix(job_id)).await {
            tracing::warn!(job = %job_id, error = %e, "could not drop the job's sealed data");
        }
    }

    /// How many sealed blobs the transfer store holds (what [`Peer::forget_job`] and the sweeps
    /// keep bounded).
    pub async fn transfer_blobs(&self) -> Result<usize, PeerError> {
        Ok(self.transfers.blobs().list().hashes().await.map_err(|e| peer_error(e.to_string()))?.len())
    }

    /// As a buyer: spot-checks every delivered result before agreement may settle a job (see
    /// the node's spot check). Set once; later calls are ignored.
    pub fn enable_spot_checks(&self, checker: impl ResultCheck) {
        let _ = self.spots.checker.set(Arc::new(checker));
    }

    pub fn spot_checks_enabled(&self) -> bool {
        self.spots.checker.get().is_some()
    }

    /// As a buyer: the spot check of `root` for `job_id`, waiting up to `wait` for it to finish;
    /// `None` if the result was not delivered or the check is still running.
    pub async fn spot_outcome(
        &self,
        job_id: U256,
        root: B256,
        wait: Duration,
    ) -> Option<Result<SpotOutcome, CheckFailed>> {
        let until = std::time::Instant::now() + wait;
        loop {
            let state = crate::lock(&self.spots.outcomes).get(&(job_id, root)).cloned();
            match state {
                Some(Some(done)) => return Some(done),
                Some(None) if std::time::Instant::now() < until => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                _ => return None,
            }
        }
    }

    /// Seals `bundle` to `reader` and keeps it in the node's store under `name`.
    pub fn keep_sealed(&self, name: &str, reader: &k256::PublicKey, bundle: &[u8]) -> Result<(), PeerError> {
        let hash = self.local.put(&seal::seal(reader, bundle))?;
        self.local.link(name, &hash)
    }

    pub async fn shutdown(&self) {
        let _ = self.router.shutdown().await;
    }
}
