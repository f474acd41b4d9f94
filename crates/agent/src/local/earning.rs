//! The owner's money on the network: what this machine earned and when, the payout address,
//! withdrawals (earnings and the fee rebate), and the chain's record of this provider as the
//! dashboard shows it.

use super::*;

impl LocalMarket {
    /// The connection profile of the ready network, or why there is none.
    pub(super) fn ready_profile(&self) -> Result<PathBuf, NodeError> {
        match &*lock(&self.inner.phase) {
            Phase::Ready { profile_path, .. } => Ok(profile_path.clone()),
            _ => Err(NodeError::NetworkUnavailable { message: "the network is not ready".into() }),
        }
    }

    /// This machine's earnings over `period`, read from the chain's payment events.
    pub fn earnings(&self, period: EarningsPeriod) -> Result<EarningsHistory, NodeError> {
        let profile_path = self.ready_profile()?;
        let rt = runtime()?;
        let net = Network::connect(&profile_path, self.inner.provider_key()?)?;
        rt.block_on(async {
            let now = net.now().await?;
            let since = net.registered_at(net.address()).await?.unwrap_or(now);
            let payments = net.payments_to(net.address()).await?;
            let pending = net.pending_for(net.address()).await?;
            let units = net.registration(net.address()).await?;
            let device = match &*lock(&self.inner.phase) {
                Phase::Ready { device, .. } => device.clone(),
                _ => String::new(),
            };
            let paid_units = gridmint_node::earnings::units_in_period(period, now, &payments);
            let electricity = self.inner.electricity(&device).for_work(paid_units, units.computeUnits);
            let (jobs_24h, median) = net.offers_24h(now).await?;
            Ok(EarningsHistory {
                pending_usd: Usd::from_base_units(pending),
                market_jobs_24h: jobs_24h as u32,
                market_median_usd_per_pflop: median.map(gridmint_protocol::Price::usd_per_pflop),
                electricity_usd: (units.computeUnits > 0).then_some(electricity),
                ..gridmint_node::earnings::history(period, now, since, &payments)
            })
        })
    }

    /// Asks the market to send this machine's withdrawals to `address` from now on: the change
    /// waits out the market's payout delay (a stolen key cannot redirect earnings at once).
    pub fn change_payout(&self, address: &str) -> Result<(), NodeError> {
        let to: Address = address.trim().parse().map_err(|e| NodeError::InvalidRequest {
            message: format!("payout address `{}`: {e} (expected 0x and 40 hex digits)", address.trim()),
        })?;
        if to.is_zero() {
            return Err(NodeError::InvalidRequest { message: "payout address: the zero address burns funds".into() });
        }
        let profile_path = self.ready_profile()?;
        let rt = runtime()?;
        let net = Network::connect(&profile_path, self.inner.provider_key()?)?;
        rt.block_on(async {
            let mined = net.market.request_payout_change(to).await?;
            tracing::info!(%to, tx = %mined.receipt.transaction_hash, "payout address change requested");
            Ok(())
        })
    }

    /// Pays this machine's earned balance out to its payout address.
    pub fn withdraw(&self) -> Result<Withdrawal, NodeError> {
        let profile_path = self.ready_profile()?;
        let rt = runtime()?;
        let net = Network::connect(&profile_path, self.inner.provider_key()?)?;
        rt.block_on(async {
            // Rewards first (the fee rebate of finished epochs): they go to the payout address too.
            let claimed = net.market.claim_rewards().await?;
            let rewards: u128 = claimed.as_ref().map_or(0, |m| m.value.saturating_to());
            let (amount, ..) = net.standing(net.address()).await?;
            if amount == 0 && rewards == 0 {
                return Err(NodeError::InvalidRequest { message: "nothing to withdraw yet".into() });
            }
            let (to, _) = net.payout(net.address()).await?;
            let transaction = if amount > 0 {
                net.market.withdraw().await?.receipt.transaction_hash
            } else {
                claimed.map(|m| m.receipt.transaction_hash).unwrap_or_default()
            }
            .to_string();
            tracing::info!(amount, rewards, %to, "withdrew earnings");
            Ok(Withdrawal { amount_usd: Usd::from_base_units(amount + rewards), to: to.to_string(), transaction })
        })
    }
}

impl Inner {
    /// What the chain says of `provider`, read through the status's one connection, and only
    /// when a block was mined since the last read (nothing on chain changes in between).
    pub(super) fn chain_standing(
        &self,
        profile: &Path,
        provider: Address,
    ) -> Result<ChainStanding, gridmint_protocol::ApiError> {
        let mut reader = lock(&self.reader);
        let reader = match reader.take() {
            Some(r) if r.profile == profile => reader.insert(r),
            _ => {
                let (rt, net) = self.buyer(profile).map_err(|e| e.to_api())?;
                reader.insert(Reader { profile: profile.to_owned(), rt: Some(rt), net })
            }
        };
        let (Some(rt), net) = (reader.rt.as_ref(), &reader.net) else {
            return Err(gridmint_protocol::ApiError::new(
                gridmint_protocol::ErrorCode::NetworkUnavailable,
                "the local network was shut down",
            ));
        };
        let block = rt.block_on(net.block_number()).map_err(|e| e.to_api())?;
        if let Some((read_at, read)) = &*lock(&self.chain_read)
            && *read_at == block
        {
            return read.clone();
        }
        let read = rt
            .block_on(async {
                let standing = net.standing(provider).await?;
                let payout = net.payout(provider).await?;
                let pending = net.pending_payout(provider).await?;
                let record = net.market.reputation(provider).await?;
                let registered = net.registration(provider).await?;
                Ok::<_, NodeError>((standing, payout, pending, record, registered.computeUnits))
            })
            .map(|((withdrawable, stake, score), (payout, payout_balance), pending, record, units)| ChainStanding {
                registered: !stake.is_zero(),
                withdrawable: Usd::from_base_units(withdrawable),
                stake: Grid::from_base_units(stake.saturating_to()),
                reputation_bps: score.saturating_to::<u64>(),
                payout_address: payout.to_string(),
                payout_balance: Usd::from_base_units(payout_balance),
                pending_payout: pending
                    .map(|(address, at)| PendingPayout { address: address.to_string(), effective_at_unix_s: at }),
                rewards: Usd::from_base_units(record.rewards),
                jobs_agreed: record.agreed,
                jobs_slashed: record.slashed,
                jobs_missed: record.missed,
                compute_units: units,
            })
            .map_err(|e| e.to_api());
        *lock(&self.chain_read) = Some((block, read.clone()));
        read
    }
}
