//! Device checks (`DeviceChecks.sol`, `IGridmintCourt.closeDeviceCheck`): a provider opening its
//! own check, answering it and having it closed; a juror finding the checks answered. The
//! jury's votes are the court's (`commitVote`, `revealVote` under the check's case id).

use alloy::{
    primitives::{Address, B256, U256},
    providers::Provider,
    rpc::types::Filter,
    sol_types::SolEvent,
};

use crate::{ChainError, Market, bindings::Gridmint, market::Mined};

/// `ProviderStatus.Unstaking` (Types.sol): cooling down, claims nothing new.
pub const STATUS_UNSTAKING: u8 = 1;
/// `ProviderStatus.Active`: registered, may claim jobs.
pub const STATUS_ACTIVE: u8 = 2;
/// `ProviderStatus.Verified`: active, and its last device check passed.
pub const STATUS_VERIFIED: u8 = 3;

/// What a device check's event says of its provider's checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckEvent {
    /// A pass, or a void verdict: its next check may be opened by anyone from this time on (the
    /// chain opens it only for a verified provider).
    Due(u64),
    /// A check was opened: it must be answered by `deadline`, else anyone may close it.
    Opened { deadline: u64 },
    /// A check failed (no answer, or the jury found a row wrong): nothing is due until a pass.
    Failed,
}

/// The id under which a device check's jury sits in the court (`_CHECK_CASE | provider`).
pub fn check_case(provider: Address) -> U256 {
    U256::from(1) << 255 | U256::from_be_slice(provider.as_slice())
}

impl<P: Provider + Clone> Market<P> {
    /// `provider`'s device check: open (`seedBlock` set), answered (`root` set) or none.
    pub async fn device_check(&self, provider: Address) -> Result<Gridmint::DeviceCheck, ChainError> {
        self.contract().deviceCheckOf(provider).call().await.map_err(|e| ChainError::from_contract("deviceCheckOf", e))
    }

    /// Opens a device check of `provider` (this account's own, or a verified one's that is due).
    pub async fn open_device_check(&self, provider: Address) -> Result<Mined<()>, ChainError> {
        let receipt = Self::send("openDeviceCheck", self.contract().openDeviceCheck(provider)).await?;
        Ok(Mined { value: (), receipt })
    }

    /// Answers this account's open device check with the root of its challenge.
    pub async fn answer_device_check(&self, root: B256) -> Result<Mined<()>, ChainError> {
        let receipt = Self::send("answerDeviceCheck", self.contract().answerDeviceCheck(root)).await?;
        Ok(Mined { value: (), receipt })
    }

    /// Ends `provider`'s device check once its deadline, or its jury's reveals, are over.
    pub async fn close_device_check(&self, provider: Address) -> Result<Mined<()>, ChainError> {
        let receipt = Self::send("closeDeviceCheck", self.contract().closeDeviceCheck(provider)).await?;
        Ok(Mined { value: (), receipt })
    }

    /// What a juror reveals when every sampled row of the answer `root` holds.
    pub async fn check_pass_digest(&self, root: B256) -> Result<B256, ChainError> {
        self.contract().checkPassDigest(root).call().await.map_err(|e| ChainError::from_contract("checkPassDigest", e))
    }

    /// The checks answered in blocks `from..=to`, in block order.
    pub async fn device_checks_answered(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Vec<Gridmint::DeviceCheckAnswered>, ChainError> {
        let filter = Filter::new()
            .address(self.deployment().market)
            .event_signature(Gridmint::DeviceCheckAnswered::SIGNATURE_HASH)
            .from_block(from)
            .to_block(to);
        let logs = self
            .contract()
            .provider()
            .get_logs(&filter)
            .await
            .map_err(|e| ChainError::Receipt { call: "get_logs", message: e.to_string() })?;
        Ok(logs
            .iter()
            .filter_map(|l| l.log_decode::<Gridmint::DeviceCheckAnswered>().ok())
            .map(|l| l.inner.data)
            .collect())
    }

    /// What the device checks' events in blocks `from..` to the head say of each provider's
    /// checks, in block order ([`CheckEvent`]). A void verdict's next due time is read now.
    pub async fn check_schedule(&self, from: u64) -> Result<Vec<(Address, CheckEvent)>, ChainError> {
        let filter = Filter::new().address(self.deployment().market).event_signature(vec![
            Gridmint::DeviceCheckPassed::SIGNATURE_HASH,
            Gridmint::DeviceCheckVoid::SIGNATURE_HASH,
            Gridmint::DeviceCheckOpened::SIGNATURE_HASH,
            Gridmint::DeviceCheckFailed::SIGNATURE_HASH,
        ]);
        let mut schedule = Vec::new();
        for log in self.logs_since(&filter, |_| from, "device checks").await? {
            if let Ok(passed) = log.log_decode::<Gridmint::DeviceCheckPassed>() {
                let e = passed.inner.data;
                schedule.push((e.provider, CheckEvent::Due(e.nextDueAt.saturating_to())));
            } else if let Ok(void) = log.log_decode::<Gridmint::DeviceCheckVoid>() {
                let provider = void.inner.data.provider;
                let due = self.device_check(provider).await?.dueAt.to::<u64>();
                schedule.push((provider, CheckEvent::Due(due)));
            } else if let Ok(opened) = log.log_decode::<Gridmint::DeviceCheckOpened>() {
                let e = opened.inner.data;
                schedule.push((e.provider, CheckEvent::Opened { deadline: e.deadline.saturating_to() }));
            } else if let Ok(failed) = log.log_decode::<Gridmint::DeviceCheckFailed>() {
                schedule.push((failed.inner.data.provider, CheckEvent::Failed));
            }
        }
        Ok(schedule)
    }

    /// The hash of block `number` (a device check's seed, or its samples' seed).
    pub async fn block_hash(&self, number: u64) -> Result<B256, ChainError> {
        let block = self
            .contract()
            .provider()
            .get_block_by_number(number.into())
            .await
            .map_err(|e| ChainError::Receipt { call: "eth_getBlockByNumber", message: e.to_string() })?;
        block.map(|b| b.header.hash).ok_or(ChainError::Receipt {
            call: "eth_getBlockByNumber",
            message: format!("no block {number} on this chain yet"),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_case_id_carries_the_provider_and_the_top_bit() {
        let p = alloy::primitives::address!("0x00000000000000000000000000000000000000ff");
        let id = super::check_case(p);
        assert!(id.bit(255));
        assert_eq!(id & alloy::primitives::U256::from(u64::MAX), alloy::primitives::U256::from(0xff));
    }
}
