//! Generated from the Foundry artifacts: ABI and bytecode of each contract.
#![allow(missing_docs, missing_debug_implementations, clippy::too_many_arguments)]

// The market as clients see it at its one address: `IGridmint`, every function of the hot path
// (`Gridmint`), of the cold paths it delegates (`GridmintExtension`) and of the dispute court
// those delegate in turn (`GridmintCourt`), every event and error.
alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    Gridmint,
    "../../contracts/out/IGridmint.sol/IGridmint.json"
);

// The market's deployable code and its constructor (`Config`); it deploys the extension and the
// protocol token itself. Calls go through `Gridmint` above.
alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    GridmintDeploy,
    "../../contracts/out/Gridmint.sol/Gridmint.json"
);

/// The dispute court's deployable code: deployed first, from the market's `Config` with `court`
/// zero (the market checks it). Its own module: its `Config` is the market's, bound once above.
pub mod court {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        GridmintCourtDeploy,
        "../../contracts/out/GridmintCourt.sol/GridmintCourt.json"
    );
}

// The payment token as the market sees it on any network: OpenZeppelin's ERC-20 interface. The
// mock stablecoin below is the local network's token, deployed and minted only there.
alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    IERC20,
    "../../contracts/out/IERC20.sol/IERC20.json"
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
