// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {GridmintStorage} from "./base/GridmintStorage.sol";
import {Disputes} from "./extension/Disputes.sol";
import {ExtensionBase} from "./extension/ExtensionBase.sol";
import {Registry} from "./extension/Registry.sol";
import {Replicas} from "./extension/Replicas.sol";
import {Rewards} from "./extension/Rewards.sol";
import {Views} from "./extension/Views.sol";
import {GridToken} from "./tokens/GridToken.sol";

/// @title GridmintExtension
/// @notice The market's cold paths (`IGridmintExtension`): the registry and stake, a replica
/// leaving its job, dispute resolution, fees and rewards, and every view. Deployed by `Gridmint` and run only delegated to
/// from it, in its storage; each concern is an abstract contract of its own under extension/.
contract GridmintExtension is Registry, Replicas, Disputes, Rewards, Views {
    constructor(Config memory c, GridToken stakeToken_, uint256 genesis_)
        GridmintStorage(c, stakeToken_, genesis_)
    {}
}
