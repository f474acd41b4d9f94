//! Blob transfers: a sealed blob fetched from a peer within a proven size and a time bound, and
//! the transfer store's tags for the data a buyer serves.

use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use iroh::{Endpoint, EndpointAddr};
use iroh_blobs::store::mem::MemStore;

use super::{CONNECT_TIMEOUT, FETCH_GRACE, connect, peer_error};
use crate::PeerError;

/// Fetches blob `blob` from `from` if it holds at most `max_bytes` (its size is proven by the
/// BLAKE3 tree before anything else is fetched) and returns its bytes, leaving nothing behind in
/// `store` that its next sweep does not collect.
pub(super) async fn fetch(
    endpoint: &Endpoint,
    store: &MemStore,
    from: EndpointAddr,
    blob: B256,
    max_bytes: u64,
) -> Result<Vec<u8>, PeerError> {
    let hash = iroh_blobs::Hash::from_bytes(blob.0);
    let conn = connect(endpoint, from, iroh_blobs::ALPN).await?;
    let (size, _) = tokio::time::timeout(CONNECT_TIMEOUT, iroh_blobs::get::request::get_verified_size(&conn, &hash))
        .await
        .map_err(|_| peer_error(format!("the size of blob {blob}: no answer within {}s", CONNECT_TIMEOUT.as_secs())))?
        .map_err(|e| peer_error(format!("the size of blob {blob}: {e}")))?;
    if size > max_bytes {
        conn.close(0u32.into(), b"too big");
        return Err(PeerError::TooBig {
            message: format!("blob {blob} holds {size} bytes; at most {max_bytes} are taken"),
        });
    }
    // Held while it arrives and is read, so that a sweep in between does not take it.
    let _held = store.tags().temp_tag(hash).await.map_err(|e| peer_error(e.to_string()))?;
    let transfer = async {
        store
            .remote()
            .fetch(conn.clone(), hash)
            .complete()
            .await
            .map_err(|e| peer_error(format!("fetching blob {blob}: {e}")))
    };
    // A peer that sends slower than ~1 MiB/s (after a grace of a minute) is dropped.
    let time = FETCH_GRACE + Duration::from_secs(size >> 20);
    tokio::time::timeout(time, transfer)
        .await
        .map_err(|_| peer_error(format!("fetching blob {blob} ({size} bytes) took over {}s", time.as_secs())))??;
    conn.close(0u32.into(), b"done");
    let bytes = store.get_bytes(hash).await.map_err(|e| peer_error(format!("reading blob {blob}: {e}")))?;
    Ok(bytes.to_vec())
}

/// The transfer store's tag for the data of `job_id` sealed to `who`.
pub(super) fn data_tag(job_id: U256, who: Address) -> String {
    format!("{}{who}", data_tag_prefix(job_id))
}

pub(super) fn data_tag_prefix(job_id: U256) -> String {
    format!("data/{job_id}/")
}
