// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Settlement} from "../base/Settlement.sol";

/// @title ExtensionBase
/// @notice What the cold paths share: they run only delegated to from the market, in its
/// storage. Called at the extension's own address they would act on an empty store of its own
/// (and could take tokens into it), so every state-changing one refuses that.
abstract contract ExtensionBase is Settlement {
    /// @dev The market that deployed this extension and delegates to it.
    address internal immutable _market;

    constructor() {
        _market = msg.sender;
    }

    modifier viaMarket() {
        if (address(this) != _market) revert OnlyThroughMarket(_market);
        _;
    }
}
