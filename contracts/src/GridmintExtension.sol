// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {GridmintStorage} from "./base/GridmintStorage.sol";
import {ExtensionBase} from "./extension/ExtensionBase.sol";
import {Jury} from "./extension/Jury.sol";
import {Registry} from "./extension/Registry.sol";
import {Replicas} from "./extension/Replicas.sol";
import {Rewards} from "./extension/Rewards.sol";
import {Views} from "./extension/Views.sol";
import {GridToken} from "./tokens/GridToken.sol";

/// @title GridmintExtension
/// @notice The market's cold paths (`IGridmintExtension`): the registry and stake, a replica
/// leaving its job, fees and rewards, and every view. Deployed by `Gridmint` and run only delegated to
/// from it, in its storage; each concern is an abstract contract of its own under extension/.
/// What it does not implement (the dispute court, `IGridmintCourt`) it delegates in turn to
/// `GridmintCourt`, in the same storage.
contract GridmintExtension is Registry, Replicas, Rewards, Views, Jury {
    constructor(Config memory c, GridToken stakeToken_) GridmintStorage(c, stakeToken_) {}

    /// @notice Every call neither the market nor this implements runs in the court.
    fallback() external {
        _delegate(_court);
    }
}
