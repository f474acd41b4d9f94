//! Where the contracts of a network live: written by `forge script script/Deploy.s.sol` or by
//! [`crate::Market::deploy`], read by every node of that network.

use std::path::Path;

use alloy::primitives::{Address, U256};
use serde::{Deserialize, Serialize};

use crate::{ChainError, bindings::GridmintStorage};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub chain_id: u64,
    /// The block the market was deployed in: event indexing starts here.
    pub start_block: u64,
    pub market: Address,
    pub payment_token: Address,
    pub stake_token: Address,
}

impl Deployment {
    /// Reads a deployment file: one that may have come from anyone, so at most 64 KiB (it holds
    /// five fields) and read no further.
    pub fn load(path: &Path) -> Result<Self, ChainError> {
        use std::io::Read as _;
        const MAX_BYTES: u64 = 64 << 10;
        let err = |message: String| ChainError::Deployment { path: path.to_owned(), message };
        let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
        let mut text = String::new();
        file.take(MAX_BYTES + 1).read_to_string(&mut text).map_err(|e| err(e.to_string()))?;
        if text.len() as u64 > MAX_BYTES {
            return Err(err(format!("over {MAX_BYTES} bytes: not a deployment file")));
        }
        serde_json::from_str(&text).map_err(|e| err(e.to_string()))
    }

    pub fn save(&self, path: &Path) -> Result<(), ChainError> {
        let err = |e: &dyn std::fmt::Display| ChainError::Deployment { path: path.to_owned(), message: e.to_string() };
        let json = serde_json::to_string_pretty(self).map_err(|e| err(&e))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| err(&e))?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, json).map_err(|e| err(&e))?;
        std::fs::rename(&tmp, path).map_err(|e| err(&e))
    }
}

/// The market parameters of the local network and of the tests (also in
/// contracts/script/Deploy.s.sol). The payment token, the court and the genesis are filled in
/// by [`crate::Market::deploy`].
///
/// `verified_matching`: whether jobs that ask for memory, compute or the fused class fit only
/// providers a device check verified (a network with a jury pool to judge the checks).
pub fn local_config(deployer: Address, verified_matching: bool) -> GridmintStorage::Config {
    let e = |n: u64, d: u64| U256::from(n) * U256::from(10).pow(U256::from(d));
    GridmintStorage::Config {
        paymentToken: Address::ZERO,
        treasury: deployer,
        court: Address::ZERO,
        genesis: U256::ZERO,
        initialStakeHolder: deployer,
        initialStakeSupply: e(1, 27),
        minStakePerUnit: e(1, 16),
        unstakeCooldown: 7 * 86_400,
        payoutDelay: 2 * 86_400,
        // Each move of a dispute's game (a bisection round, the leaf, the jury's commitments, its reveals): the
        // local chain mines a block a second, the agents answer within a few.
        moveWindow: 20,
        feeBps: 250,
        slashBps: 1_000,
        buyerSlashShareBps: 5_000, // of a dissenter's slash; none of a missed deadline's
        epochLength: 86_400,
        // Half of each epoch's fees go back to the providers paid in it: rewards out of fees, never
        // more than them, so paying oneself cannot earn (contracts/README.md).
        rebateBps: 5_000,
        // The local chain mines a block a second: five per replica and window is ample.
        minStepWindow: 5,
        // The buyer's node checks within seconds; providers wait this long after the reveal
        // deadline before they settle a job whose buyer went quiet.
        checkWindow: 30,
        challengeBondBps: 1_000,
        // A move of a dispute descends three levels of the trace tree (the node's 8 parts): four
        // rounds for 4,096 steps instead of twelve (bench/RESULTS.md, the dispute's gas).
        levelsPerMove: 3,
        jurySize: 5,
        jurorShareBps: 5_000,
        jurorSlashBps: 500,
        verifiedMatching: verified_matching,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_forge_script_writes() {
        let json = r#"{
  "chainId": 31337,
  "startBlock": 0,
  "market": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
  "paymentToken": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
  "stakeToken": "0xCafac3dD18aC6c6e92c921884f9E4176737C052c"
}"#;
        let d: Deployment = serde_json::from_str(json).expect("parses the script's output");
        assert_eq!(d.chain_id, 31337);
        assert_eq!(d.market, "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512".parse::<Address>().expect("address"));
    }

    /// A deployment file from someone else: a huge one is refused without being read whole.
    #[test]
    fn attack_an_oversized_deployment_file_is_refused_with_its_path() {
        let dir = std::env::temp_dir().join(format!("gridmint-deployment-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("huge.json");
        std::fs::write(&path, format!("{{\"chainId\": 1, \"pad\": \"{}\"}}", "x".repeat(100_000))).expect("write");
        let err = Deployment::load(&path).expect_err("too big").to_string();
        assert!(err.contains("huge.json") && err.contains("over 65536 bytes"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
