//! The embedded local network's stand-in for discovery: each endpoint writes its loopback
//! addresses to a file named after its id, in a folder beside the network profile.

use std::{net::SocketAddr, path::PathBuf};

use iroh::{EndpointAddr, EndpointId, TransportAddr};

use crate::PeerError;

/// Where peers on one machine find each other's addresses.
#[derive(Debug, Clone)]
pub(super) struct AddressBook {
    pub(super) dir: PathBuf,
}

impl AddressBook {
    fn path(&self, id: &EndpointId) -> PathBuf {
        self.dir.join(id.to_string())
    }

    pub(super) fn publish(&self, id: &EndpointId, addrs: &[SocketAddr]) -> Result<(), PeerError> {
        let text: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        std::fs::create_dir_all(&self.dir).map_err(|source| PeerError::Io {
            what: "creating",
            path: self.dir.clone(),
            source,
        })?;
        let path = self.path(id);
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        std::fs::write(&tmp, text.join("\n")).map_err(|source| PeerError::Io {
            what: "writing",
            path: tmp.clone(),
            source,
        })?;
        std::fs::rename(&tmp, &path).map_err(|source| PeerError::Io { what: "writing", path, source })
    }

    fn lookup(&self, id: &EndpointId) -> Vec<SocketAddr> {
        std::fs::read_to_string(self.path(id))
            .map(|text| text.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }
}

/// `id` with the addresses the local address book has for it (none on other networks: iroh's
/// discovery finds them).
pub(super) fn endpoint_addr(book: Option<&AddressBook>, id: EndpointId) -> EndpointAddr {
    let direct = book.map(|b| b.lookup(&id)).unwrap_or_default();
    EndpointAddr::from_parts(id, direct.into_iter().map(TransportAddr::Ip))
}
