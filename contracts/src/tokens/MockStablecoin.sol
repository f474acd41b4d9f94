// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title MockStablecoin
/// @notice The payment token of the local network: 6 decimals like USDC, with an open faucet.
/// @dev Never deployed outside a development chain.
contract MockStablecoin is ERC20 {
    constructor() ERC20("Gridmint Test Dollar", "gUSD") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Mints `amount` to `to`. Anyone may call it: this is a test token.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
