// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title JuryTicket
/// @notice A jury pool member's ticket in a game's draw (see `Jury`): the lower, the better.
library JuryTicket {
    /// @dev `log2(E) - log2(weight)` in 32-bit fixed point, offset by 2^40 to stay positive, where
    /// `E = -log2(u)` for `u = keccak256(seed, seat, juror) / 2^256`: the log of an exponential
    /// race's time (ln 2 scales every ticket alike, so the order is the race's). Each seat is a
    /// race of its own.
    function draw(uint256 seed, uint256 seat, address juror, uint256 weight) internal pure returns (uint64) {
        uint256 u = uint256(keccak256(abi.encode(seed, seat, juror))) | 1;
        uint256 e = (uint256(256) << 32) - log2(u); // ≥ 1: log2(u) < 256
        return uint64((uint256(1) << 40) + log2(e) - log2(weight == 0 ? 1 : weight));
    }

    /// @dev `log2(x) * 2^32`, rounded down, for `x ≥ 1`: the integer part from the highest bit,
    /// 32 fraction bits by repeated squaring of the mantissa.
    function log2(uint256 x) internal pure returns (uint256 r) {
        uint256 n;
        for (uint256 step = 128; step > 0; step >>= 1) {
            if (x >> (n + step) != 0) n += step;
        }
        r = n << 32;
        uint256 y = n >= 127 ? x >> (n - 127) : x << (127 - n); // in [2^127, 2^128): 1.127 fixed point
        for (uint256 bit = uint256(1) << 31; bit != 0; bit >>= 1) {
            y = (y * y) >> 127;
            if (y >= uint256(1) << 128) {
                y >>= 1;
                r |= bit;
            }
        }
    }
}
