// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title GridToken
/// @notice Gridmint's protocol token: providers stake it, and the market mints it as rewards,
/// within the per-epoch cap that real demand justifies. Deployed by the market itself, so the
/// minter is fixed at construction.
contract GridToken is ERC20 {
    /// @notice The only address that may mint after deployment (the market).
    address public immutable minter;

    error NotMinter(address caller);

    /// @param initialHolder receives `initialSupply` (stake for the first providers).
    constructor(address initialHolder, uint256 initialSupply) ERC20("Gridmint", "GRID") {
        minter = msg.sender;
        _mint(initialHolder, initialSupply);
    }

    /// @notice Mints rewards. Only the market.
    function mint(address to, uint256 amount) external {
        if (msg.sender != minter) revert NotMinter(msg.sender);
        _mint(to, amount);
    }
}
