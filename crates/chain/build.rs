//! The bindings are generated from the contracts' compiled artifacts: fail early, and say how
//! to make them, when they are missing.

use std::path::PathBuf;

const ARTIFACTS: &[&str] = &[
    "IGridmint.sol/IGridmint.json",
    "Gridmint.sol/Gridmint.json",
    "GridmintExtension.sol/GridmintExtension.json",
    "IERC20.sol/IERC20.json",
    "MockStablecoin.sol/MockStablecoin.json",
    "GridToken.sol/GridToken.json",
];

fn main() {
    let out = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("../../contracts/out");
    for artifact in ARTIFACTS {
        let path = out.join(artifact);
        println!("cargo:rerun-if-changed={}", path.display());
        assert!(
            path.exists(),
            "{} is missing: build the contracts first with `make contracts` (cd contracts && forge build)",
            path.display()
        );
    }
}
