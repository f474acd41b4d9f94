//! Whether the code at a network's market address is a Gridmint build this client knows: the
//! market's and its extension's runtime code compared with the artifacts these bindings were
//! generated from, byte for byte except the immutables (addresses and parameters that differ per
//! deployment; the artifacts say where they are). A network file names the market the wallet
//! approves payments to, so a file that names something else must not be trusted silently.

use alloy::{
    primitives::{Address, B256, keccak256},
    providers::Provider,
};

use crate::{ChainError, bindings::Gridmint};

const MARKET_ARTIFACT: &str = include_str!("../../../contracts/out/Gridmint.sol/Gridmint.json");
const EXTENSION_ARTIFACT: &str = include_str!("../../../contracts/out/GridmintExtension.sol/GridmintExtension.json");

/// What runs at a market's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarketCode {
    /// This client's own build of the market and its extension.
    Known,
    /// Something else. `fingerprint` identifies the code (the market's and the extension's,
    /// immutables zeroed): what a user who trusts it records (`NetworkProfile::trusted_market_code`).
    Unknown { fingerprint: B256 },
}

/// Byte ranges (start, length) of a contract's immutables in its runtime code.
type Ranges = Vec<(usize, usize)>;

/// The runtime code of an artifact and the byte ranges of its immutables.
fn artifact(json: &str, name: &str) -> Result<(Vec<u8>, Ranges), ChainError> {
    let bad =
        |message: String| ChainError::Receipt { call: "market code check", message: format!("{name}: {message}") };
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
    let deployed = &value["deployedBytecode"];
    let hex = deployed["object"].as_str().ok_or_else(|| bad("no deployedBytecode.object".into()))?;
    let code = alloy::hex::decode(hex).map_err(|e| bad(e.to_string()))?;
    let mut ranges = Vec::new();
    if let Some(refs) = deployed["immutableReferences"].as_object() {
        for places in refs.values() {
            for place in places.as_array().into_iter().flatten() {
                let start = place["start"].as_u64().ok_or_else(|| bad("an immutable without a start".into()))?;
                let length = place["length"].as_u64().ok_or_else(|| bad("an immutable without a length".into()))?;
                ranges.push((start as usize, length as usize));
            }
        }
    }
    Ok((code, ranges))
}

/// `code` with the bytes at `ranges` zeroed (ranges past its end ignored).
fn masked(code: &[u8], ranges: &[(usize, usize)]) -> Vec<u8> {
    let mut out = code.to_vec();
    for &(start, length) in ranges {
        let end = start.saturating_add(length).min(out.len());
        if start < end {
            out[start..end].fill(0);
        }
    }
    out
}

/// Compares the deployed `market` and `extension` code with this client's build.
pub fn classify(market: &[u8], extension: &[u8]) -> Result<MarketCode, ChainError> {
    let (market_build, market_ranges) = artifact(MARKET_ARTIFACT, "Gridmint")?;
    let (extension_build, extension_ranges) = artifact(EXTENSION_ARTIFACT, "GridmintExtension")?;
    let (market, extension) = (masked(market, &market_ranges), masked(extension, &extension_ranges));
    if market == masked(&market_build, &market_ranges) && extension == masked(&extension_build, &extension_ranges) {
        return Ok(MarketCode::Known);
    }
    Ok(MarketCode::Unknown { fingerprint: keccak256([market, extension].concat()) })
}

/// Reads the code at `market` and at the extension it names, and classifies it. A market that
/// does not answer `extension()` (not a Gridmint at all) is unknown.
pub async fn market_code<P: Provider>(provider: &P, market: Address) -> Result<MarketCode, ChainError> {
    let read =
        |e: alloy::transports::TransportError| ChainError::Receipt { call: "eth_getCode", message: e.to_string() };
    let code = provider.get_code_at(market).await.map_err(read)?;
    let extension = match Gridmint::new(market, provider).extension().call().await {
        Ok(address) => provider.get_code_at(address).await.map_err(read)?,
        Err(_) => Default::default(),
    };
    classify(&code, &extension)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_itself_is_known_and_one_changed_byte_is_not() {
        let (market, market_ranges) = artifact(MARKET_ARTIFACT, "Gridmint").expect("artifact");
        let (extension, ranges) = artifact(EXTENSION_ARTIFACT, "GridmintExtension").expect("artifact");
        assert_eq!(classify(&market, &extension).expect("classify"), MarketCode::Known);
        // Immutables differ per deployment: still known.
        let mut deployed = extension.clone();
        let (start, length) = ranges[0];
        deployed[start..start + length].fill(0xab);
        assert_eq!(classify(&market, &deployed).expect("classify"), MarketCode::Known);
        // One byte of code changed (outside the immutables): unknown, with a stable fingerprint.
        let mut forged = market.clone();
        let at =
            (0..forged.len()).find(|i| !market_ranges.iter().any(|&(s, l)| (s..s + l).contains(i))).expect("a byte");
        forged[at] ^= 1;
        let first = classify(&forged, &extension).expect("classify");
        assert!(matches!(first, MarketCode::Unknown { .. }), "{first:?}");
        assert_eq!(classify(&forged, &extension).expect("classify"), first, "the same code, the same fingerprint");
        assert!(matches!(classify(&[], &[]).expect("classify"), MarketCode::Unknown { .. }), "no code at all");
    }
}
