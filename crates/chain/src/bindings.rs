//! Generated from the Foundry artifacts: ABI and bytecode of each contract.
#![allow(missing_docs, missing_debug_implementations, clippy::too_many_arguments)]

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    Gridmint,
    "../../contracts/out/Gridmint.sol/Gridmint.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    MockStablecoin,
    "../../contracts/out/MockStablecoin.sol/MockStablecoin.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    GridToken,
    "../../contracts/out/GridToken.sol/GridToken.json"
);
