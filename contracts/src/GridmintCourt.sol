// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {GridmintStorage} from "./base/GridmintStorage.sol";
import {DeviceChecks} from "./court/DeviceChecks.sol";
import {GridToken} from "./tokens/GridToken.sol";

/// @title GridmintCourt
/// @notice The market's dispute court and device checks (`IGridmintCourt`, see `Court` and
/// `DeviceChecks`): run only delegated to from
/// the market's extension, in the market's storage. Deployed before the market from the same
/// `Config` (with `court` zero), which the market checks against `configHash` when it is built:
/// one contract more because the market's creation code (which carries the extension's) has no
/// room for it under the 49,152-byte initcode limit.
contract GridmintCourt is DeviceChecks {
    /// @notice `keccak256(abi.encode(config))` of the config it was built from.
    bytes32 public immutable configHash;

    constructor(Config memory c) GridmintStorage(c, GridToken(address(0))) {
        if (c.court != address(0)) revert InvalidParameter("court");
        configHash = keccak256(abi.encode(c));
    }
}
