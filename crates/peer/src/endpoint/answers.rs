//! What a node answers on [`JOB_ALPN`](super::JOB_ALPN): as a buyer, the job's data to its
//! replicas and jurors, their results and relayed commitments; as a replica, the job's data to
//! the jurors of its court games.

use super::*;

/// What a node answers on [`JOB_ALPN`]: as a buyer, to its replicas and jurors; as a replica, to jurors.
#[derive(Debug)]
pub(super) struct JobData<L> {
    pub(super) spots: Spots,
    pub(super) relay: RelayBook,
    pub(super) bell: RelayBell,
    pub(super) ledger: L,
    pub(super) endpoint: Endpoint,
    pub(super) transfers: MemStore,
    pub(super) local: BlobStore,
    pub(super) book: Option<AddressBook>,
    pub(super) guards: Guards,
}

impl<L: Ledger> JobData<L> {
    async fn answer(&self, from: EndpointId, request: Request) -> Response {
        let result = match request {
            Request::Data { job_id, signature } => self.data(from, job_id, &signature).await,
            Request::Result { job_id, root, blob, signature } => {
                self.result(from, job_id, root, blob, &signature).await
            }
            Request::Commit { job_id, index, commitment, signature, root, work_units, salt } => {
                self.commit(job_id, index, commitment, signature, root, work_units, salt).await
            }
            Request::Openings { root } => self.openings(root).await,
            Request::Card { job_id, signature } => self.card(from, job_id, &signature).await,
        };
        result.unwrap_or_else(|e| {
            tracing::warn!(peer = %from.fmt_short(), error = %e, "refused a peer's request");
            Response::Refused { message: e.to_string() }
        })
    }

    /// The openings of this node's device check answered with `root`, if it keeps them: one copy
    /// in the transfer store however often it is asked (a juror each, at most a jury).
    async fn openings(&self, root: B256) -> Result<Response, PeerError> {
        let tag = format!("openings/{root:x}");
        let known = self.transfers.tags().get(&tag).await.map_err(|e| peer_error(e.to_string()))?;
        let hash = match known {
            Some(info) if self.transfers.blobs().has(info.hash).await.unwrap_or(false) => info.hash,
            _ => {
                let bytes = self
                    .local
                    .resolve(&super::openings_name(root))?
                    .ok_or_else(|| peer_error(format!("no device check answered {root} on this node")))?;
                self.transfers.add_bytes(bytes).with_named_tag(&tag).await.map_err(|e| peer_error(e.to_string()))?.hash
            }
        };
        tracing::info!(%root, "serving the device check's openings");
        Ok(Response::Data { blob: B256::from(*hash.as_bytes()), signature: Bytes::new() })
    }

    /// The job and its claimants, if this node posted it and `who` is the `party` asked for.
    /// `slot` is the job's (`Ledger::job_slot`), read first: a request about a job that is not
    /// this node's (or none) costs that one call, never a search of the chain's logs.
    async fn my_job(
        &self,
        job_id: U256,
        slot: (Address, u32),
        who: Address,
        party: Party,
    ) -> Result<(JobPosted, Vec<Address>), PeerError> {
        let (buyer, selected) = slot;
        if buyer == Address::ZERO {
            return Err(peer_error(format!("no job {job_id}")));
        }
        if buyer != self.ledger.signer().address() {
            return Err(peer_error(format!("job {job_id} is not this node's")));
        }
        let posted = self.ledger.posted_job(job_id).await?.ok_or_else(|| peer_error(format!("no job {job_id}")))?;
        let claimants = self.ledger.claimants(job_id).await?;
        let Some(position) = claimants.iter().position(|c| *c == who) else {
            // A juror of the job's court game re-runs one step: it gets the job's data.
            if party == Party::ReplicaOrJuror && self.ledger.may_judge(job_id, who).await? {
                return Ok((posted, claimants));
            }
            return Err(peer_error(format!("{who} has not claimed job {job_id}")));
        };
        if party != Party::Claimant && (selected >> position) & 1 == 0 {
            return Err(peer_error(if selected == 0 {
                format!("job {job_id}: its replicas are not drawn yet; ask again once they are")
            } else {
                format!("{who} is not one of job {job_id}'s replicas")
            }));
        }
        Ok((posted, claimants))
    }

    /// The job, if this node is one of its replicas and `who` may judge its court game's step: a
    /// replica serves the job's data to the jurors, so a buyer that withholds it (one that
    /// colludes with a challenging replica, say) cannot leave them unable to check the step.
    async fn judged_job(&self, job_id: U256, selected: u32, who: Address) -> Result<JobPosted, PeerError> {
        // Before any chain lookup: only a job this node computed.
        self.guards.refuse_unless_computed(job_id)?;
        let me = self.ledger.signer().address();
        let claimants = self.ledger.claimants(job_id).await?;
        let replica = claimants.iter().position(|c| *c == me).is_some_and(|i| (selected >> i) & 1 == 1);
        if !replica {
            return Err(peer_error(format!("job {job_id} is not this node's, nor one it computed")));
        }
        if !self.ledger.may_judge(job_id, who).await? {
            return Err(peer_error(format!("{who} is no juror of job {job_id}'s court game")));
        }
        self.ledger.posted_job(job_id).await?.ok_or_else(|| peer_error(format!("no job {job_id}")))
    }

    #[allow(clippy::too_many_arguments)]
    async fn commit(
        &self,
        job_id: U256,
        index: U256,
        commitment: B256,
        signature: Bytes,
        root: B256,
        work_units: u64,
        salt: B256,
    ) -> Result<Response, PeerError> {
        let d = self.ledger.domain();
        let digest = gridmint_chain::commit_digest(d.chain_id, d.market, job_id, index, commitment);
        let signer = Signature::from_raw(&signature)
            .and_then(|s| s.recover_address_from_msg(digest.as_slice()))
            .map_err(|e| peer_error(format!("job {job_id}: a commitment signature that recovers no key: {e}")))?;
        let slot = self.ledger.job_slot(job_id).await?;
        let (_, claimants) = self.my_job(job_id, slot, signer, Party::Claimant).await?;
        let position: usize = index.try_into().unwrap_or(usize::MAX);
        if claimants.get(position) != Some(&signer) {
            return Err(peer_error(format!("job {job_id}: claimant {index} is not {signer}")));
        }
        if gridmint_chain::commitment(root, work_units, salt, signer) != commitment {
            return Err(peer_error(format!("job {job_id}: the reveal does not open the commitment")));
        }
        let relayed = Relayed {
            signed: gridmint_chain::bindings::Gridmint::SignedCommit { index, commitment, signature },
            reveal: gridmint_chain::bindings::Gridmint::Reveal { index, resultRoot: root, workUnits: work_units, salt },
        };
        crate::lock(&self.relay).entry(job_id).or_default().insert(index, relayed);
        tracing::info!(job = %job_id, provider = %signer, %index, "took a relayed commitment");
        self.bell.notify_waiters();
        Ok(Response::Accepted)
    }

    /// The card of a job this node posted, to a provider that may claim it now.
    async fn card(&self, from: EndpointId, job_id: U256, signature: &[u8]) -> Result<Response, PeerError> {
        let (who, _) = recover(signature, &statement(&self.ledger.domain(), "card request", job_id, &from, ""))?;
        let (buyer, _) = self.ledger.job_slot(job_id).await?;
        if buyer == Address::ZERO {
            return Err(peer_error(format!("no job {job_id}")));
        }
        if buyer != self.ledger.signer().address() {
            return Err(peer_error(format!("job {job_id} is not this node's")));
        }
        if !self.ledger.may_claim(job_id, who).await? {
            return Err(peer_error(format!("{who} may not claim job {job_id}")));
        }
        let posted = self.ledger.posted_job(job_id).await?.ok_or_else(|| peer_error(format!("no job {job_id}")))?;
        let bytes = self
            .local
            .resolve(&super::card_name(posted.dataRoot))?
            .ok_or_else(|| peer_error(format!("job {job_id}: its card is not on this node")))?;
        let card = serde_json::from_slice(&bytes).map_err(|e| peer_error(format!("job {job_id}: its card: {e}")))?;
        Ok(Response::Card { card })
    }

    async fn data(&self, from: EndpointId, job_id: U256, signature: &[u8]) -> Result<Response, PeerError> {
        let (who, key) = recover(signature, &statement(&self.ledger.domain(), "data request", job_id, &from, ""))?;
        let slot = self.ledger.job_slot(job_id).await?;
        let buyer = slot.0;
        let posted = if buyer == self.ledger.signer().address() || buyer == Address::ZERO {
            self.my_job(job_id, slot, who, Party::ReplicaOrJuror).await?.0
        } else {
            self.judged_job(job_id, slot.1, who).await?
        };
        // One request of a replica answered at a time, and one sealed copy per replica and job
        // however often it asks: a replica that asks again is offered the same blob (sealed
        // again only if a sweep took it), and the copies go when the job is forgotten.
        let _answering = self.guards.begin_sealing(job_id, who)?;
        let tag = data_tag(job_id, who);
        let known = self.transfers.tags().get(&tag).await.map_err(|e| peer_error(e.to_string()))?;
        let kept = match known {
            Some(info) if self.transfers.blobs().has(info.hash).await.unwrap_or(false) => Some(info.hash),
            _ => None,
        };
        let hash = match kept {
            Some(hash) => hash,
            None => {
                let bundle = self
                    .local
                    .get(&blake3::Hash::from_bytes(posted.dataRoot.0))?
                    .ok_or_else(|| peer_error(format!("job {job_id}: its data is not on this node")))?;
                self.transfers
                    .add_bytes(seal::seal(&key, &bundle))
                    .with_named_tag(&tag)
                    .await
                    .map_err(|e| peer_error(e.to_string()))?
                    .hash
            }
        };
        let blob = B256::from(*hash.as_bytes());
        let offer = statement(&self.ledger.domain(), "data offer", job_id, &from, &format!("\nblob {blob}"));
        if buyer == self.ledger.signer().address() {
            tracing::info!(job = %job_id, provider = %who, "serving the job's data");
        } else {
            tracing::info!(job = %job_id, juror = %who, "serving the job's data to a juror of its court game");
        }
        Ok(Response::Data { blob, signature: sign(self.ledger.signer(), &offer)? })
    }

    async fn result(
        &self,
        from: EndpointId,
        job_id: U256,
        root: B256,
        blob: B256,
        signature: &[u8],
    ) -> Result<Response, PeerError> {
        let message = statement(&self.ledger.domain(), "result", job_id, &from, &format!("\nroot {root}\nblob {blob}"));
        let (who, _) = recover(signature, &message)?;
        let slot = self.ledger.job_slot(job_id).await?;
        let (posted, _) = self.my_job(job_id, slot, who, Party::Replica).await?;
        if root == B256::from(exchange::unbound_root()) {
            return Err(peer_error(format!(
                "job {job_id}: {root} is the root of files bound to no trace; no result has it"
            )));
        }
        // One result per replica and job, reserved before anything is fetched (so concurrent
        // offers of other roots are refused at once): a replica cannot fill the store or start a
        // spot check per root it makes up. The same root again is taken as delivered once it
        // was; while it is being fetched it is refused, and the replica offers it again.
        let Some(delivery) = self.guards.reserve_result(job_id, who, root)? else {
            return Ok(Response::Accepted);
        };
        let name = format!("results/{root:x}");
        let entries = match self.local.resolve(&name)? {
            // Stored for another job or replica already: this job's spot check still runs on it.
            Some(bundle) => exchange::unbundle(&bundle)?,
            None => {
                let _turn = self.guards.fetches.acquire().await.map_err(|e| peer_error(e.to_string()))?;
                let from = endpoint_addr(self.book.as_ref(), from);
                let sealed =
                    fetch(&self.endpoint, &self.transfers, from, blob, MAX_RESULT_BYTES + seal::OVERHEAD).await?;
                // Opening, unbundling, hashing and storing up to a GiB is work for a blocking thread.
                let (secret, local) = (wallet_secret(self.ledger.signer()), self.local.clone());
                tokio::task::spawn_blocking(move || {
                    let bundle = seal::open(&secret, &sealed)
                        .map_err(|e| peer_error(format!("job {job_id}: the result: {e}")))?;
                    let entries = exchange::unbundle(&bundle)?;
                    if B256::from(exchange::result_root(&entries)) != root {
                        return Err(peer_error(format!("job {job_id}: the result's files do not hash to {root}")));
                    }
                    let hash = local.put(&bundle)?;
                    local.link(&name, &hash)?;
                    Ok::<_, PeerError>(entries)
                })
                .await
                .map_err(|e| peer_error(format!("job {job_id}: opening the result: {e}")))??
            }
        };
        delivery.done();
        if let Some(package) = self.local.get(&blake3::Hash::from_bytes(posted.dataRoot.0))? {
            self.spots.start(job_id, root, package, entries);
        }
        tracing::info!(job = %job_id, provider = %who, %root, "received a result");
        Ok(Response::Accepted)
    }
}

impl<L: Ledger> ProtocolHandler for JobData<L> {
    async fn accept(&self, connection: Connection) -> Result<(), AcceptError> {
        let from = connection.remote_id();
        // A peer that opens a stream and sends nothing, or slower than the bounds, is dropped.
        let quiet = || AcceptError::from_err(std::io::Error::new(std::io::ErrorKind::TimedOut, "a silent peer"));
        let (mut send, mut recv) =
            tokio::time::timeout(CONNECT_TIMEOUT, connection.accept_bi()).await.map_err(|_| quiet())??;
        let body = tokio::time::timeout(CONNECT_TIMEOUT, recv.read_to_end(MAX_MESSAGE))
            .await
            .map_err(|_| quiet())?
            .map_err(AcceptError::from_err)?;
        let response = match serde_json::from_slice::<Request>(&body) {
            Ok(request) => match tokio::time::timeout(ANSWER_TIMEOUT, self.answer(from, request)).await {
                Ok(response) => response,
                Err(_) => Response::Refused { message: "the answer took too long".into() },
            },
            Err(e) => Response::Refused { message: format!("a malformed request: {e}") },
        };
        let body = serde_json::to_vec(&response).map_err(AcceptError::from_err)?;
        send.write_all(&body).await.map_err(AcceptError::from_err)?;
        send.finish().map_err(AcceptError::from_err)?;
        connection.closed().await;
        Ok(())
    }
}
