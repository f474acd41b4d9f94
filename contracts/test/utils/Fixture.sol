// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Test} from "./Test.sol";
import {Gridmint} from "../../src/Gridmint.sol";
import {GridmintCourt} from "../../src/GridmintCourt.sol";
import {GridmintStorage} from "../../src/base/GridmintStorage.sol";
import {IGridmint, IGridmintErrors} from "../../src/interfaces/IGridmint.sol";
import {MockStablecoin} from "../../src/tokens/MockStablecoin.sol";
import {GridToken} from "../../src/tokens/GridToken.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {JobParams, Provider, Requirements, Reveal, SignedCommit, Trail} from "../../src/libraries/Types.sol";
import {TrailBook} from "./TrailBook.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";

/// @notice A deployed market with funded providers and a buyer.
abstract contract Fixture is Test, TrailBook, IGridmintErrors {
    IGridmint internal market;
    MockStablecoin internal usd;
    GridToken internal grid;

    address internal treasury = address(0x7EA5);
    address internal buyer = address(0xB0B);
    address[] internal providers;

    uint256 internal constant MIN_STAKE_PER_UNIT = 1e18;
    uint96 internal constant STAKE = 1_000e18;
    uint32 internal constant CU = 100;
    /// Millionths of a gUSD base unit per work unit: 1,000 base units per work unit.
    uint96 internal constant PRICE = 1_000e6;
    /// What a work unit pays at PRICE, in gUSD base units.
    uint256 internal constant UNIT_PAY = 1_000;
    uint64 internal constant MAX_WU = 1_000;
    uint32 internal constant EPOCH = 1 days;
    /// Provider i's private key is PROVIDER_KEY + i (they sign commitments).
    uint256 internal constant PROVIDER_KEY = 0x1000;

    function setUp() public virtual {
        vm.warp(1_700_000_000);
        usd = new MockStablecoin();
        market = deploy(config());
        grid = market.stakeToken();
        for (uint256 i; i < 12; ++i) {
            address p = vm.addr(PROVIDER_KEY + i);
            providers.push(p);
            grid.transfer(p, 10 * uint256(STAKE));
            vm.prank(p);
            grid.approve(address(market), type(uint256).max);
        }
        usd.mint(buyer, 1e15);
        vm.prank(buyer);
        usd.approve(address(market), type(uint256).max);
    }

    /// The court from `c`, then the market with it.
    function deploy(GridmintStorage.Config memory c) internal returns (IGridmint) {
        c.court = address(new GridmintCourt(c));
        return IGridmint(address(new Gridmint(c)));
    }

    function config() internal view virtual returns (GridmintStorage.Config memory) {
        return GridmintStorage.Config({
            paymentToken: IERC20(address(usd)),
            treasury: treasury,
            court: address(0),
            genesis: vm.getBlockTimestamp(),
            initialStakeHolder: address(this),
            initialStakeSupply: 1e30,
            minStakePerUnit: MIN_STAKE_PER_UNIT,
            unstakeCooldown: 7 days,
            payoutDelay: 2 days,
            moveWindow: 60,
            feeBps: 250,
            slashBps: 1_000,
            buyerSlashShareBps: 5_000,
            epochLength: EPOCH,
            rebateBps: 5_000,
            minStepWindow: 5,
            checkWindow: 60,
            challengeBondBps: 1_000,
            levelsPerMove: 3,
            jurySize: 5,
            jurorShareBps: 5_000,
            jurorSlashBps: 500,
            verifiedMatching: false
        });
    }

    function registerProvider(address p) internal {
        vm.prank(p);
        market.register(keccak256("NVIDIA H100 80GB HBM3"), 81_559, CU, 3, 0xff, STAKE, address(0));
    }

    /// Providers[from..from+n) enter the jury pool (registered first if need be); the block moves
    /// on, so that they judge the steps opened from now on.
    function enterJuryPool(uint256 from, uint256 n) internal {
        for (uint256 i; i < n; ++i) {
            address p = providers[from + i];
            if (market.providerOf(p).stake == 0) registerProvider(p);
            vm.prank(p);
            market.joinJuryPool();
        }
        vm.roll(vm.getBlockNumber() + 1);
    }

    function registerAll(uint256 n) internal {
        for (uint256 i; i < n; ++i) registerProvider(providers[i]);
    }

    function params(uint8 k) internal view returns (JobParams memory p) {
        p.specHash = keccak256("job.toml");
        p.dataRoot = keccak256("data");
        p.dataPeer = keccak256("peer");
        p.requirements = Requirements({minMemoryMiB: 1_024, minComputeUnits: 10, regionMask: 0, workloadClass: 1});
        p.replicas = k;
        p.pricePerUnit = PRICE;
        p.maxWorkUnits = MAX_WU;
        p.claimDeadline = uint40(vm.getBlockTimestamp() + 10);
        p.commitDeadline = uint40(vm.getBlockTimestamp() + 100);
        p.revealDeadline = uint40(vm.getBlockTimestamp() + 200);
    }

    function post(uint8 k) internal returns (uint256 jobId) {
        jobId = postWith(params(k));
    }

    function postWith(JobParams memory p) internal returns (uint256 jobId) {
        vm.prank(buyer);
        jobId = market.postJob(p);
        bookPost(jobId, p);
    }

    function claimAs(uint256 jobId, address p) internal returns (uint256 index) {
        uint128 weight = market.claimWeightOf(p);
        vm.prank(p);
        index = market.claim(jobId);
        bookClaim(jobId, p, weight);
    }

    /// The buyer moves the job on (anyone else must wait out the buyer's check window).
    function finalize(uint256 jobId) internal {
        finalizeAs(buyer, jobId);
    }

    function finalizeAs(address caller, uint256 jobId) internal {
        Trail memory t = trail(jobId);
        vm.prank(caller);
        market.finalize(jobId, t);
    }

    function salt(address p) internal pure returns (bytes32) {
        return keccak256(abi.encode("salt", p));
    }

    function commitAs(uint256 jobId, uint256 index, address p, bytes32 root, uint64 wu) internal {
        commitRaw(jobId, index, p, keccak256(abi.encode(root, wu, salt(p), p)));
    }

    function commitRaw(uint256 jobId, uint256 index, address p, bytes32 commitment) internal {
        vm.prank(p);
        market.commit(jobId, index, commitment, trail(jobId));
        bookCommit(jobId, index, commitment);
    }

    function revealAs(uint256 jobId, uint256 index, address p, bytes32 root, uint64 wu) internal {
        vm.prank(p);
        market.reveal(jobId, index, root, wu, salt(p), trail(jobId));
        bookReveal(jobId, index, root, wu);
    }

    function commitSignedAs(address caller, uint256 jobId, SignedCommit[] memory commits) internal {
        vm.prank(caller);
        market.commitSigned(jobId, trail(jobId), commits);
        for (uint256 i; i < commits.length; ++i) bookCommit(jobId, commits[i].index, commits[i].commitment);
    }

    function revealBatchAs(address caller, uint256 jobId, Reveal[] memory reveals) internal {
        vm.prank(caller);
        market.revealBatch(jobId, trail(jobId), reveals);
        for (uint256 i; i < reveals.length; ++i) {
            bookReveal(jobId, reveals[i].index, reveals[i].resultRoot, reveals[i].workUnits);
        }
    }

    /// Provider i's signed commitment to `root` for replica `index`.
    function signedCommit(uint256 jobId, uint256 index, uint256 i, bytes32 root, uint64 wu)
        internal
        view
        returns (SignedCommit memory c)
    {
        address p = providers[i];
        c.index = index;
        c.commitment = keccak256(abi.encode(root, wu, salt(p), p));
        bytes32 digest = MessageHashUtils.toEthSignedMessageHash(market.commitDigest(jobId, index, c.commitment));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(PROVIDER_KEY + i, digest);
        c.signature = abi.encodePacked(r, s, v);
    }

    /// Posts a k-replica job, has providers[0..k) claim, commit and reveal `roots[i]`; the last
    /// reveal settles it.
    function runJob(uint8 k, bytes32[] memory roots, uint64 wu) internal returns (uint256 jobId) {
        jobId = post(k);
        for (uint256 i; i < k; ++i) claimAs(jobId, providers[i]);
        vm.warp(vm.getBlockTimestamp() + 11);
        for (uint256 i; i < k; ++i) commitAs(jobId, i, providers[i], roots[i], wu);
        for (uint256 i; i < k; ++i) revealAs(jobId, i, providers[i], roots[i], wu);
        bool unanimous = true;
        for (uint256 i = 1; i < k; ++i) unanimous = unanimous && roots[i] == roots[0];
        // The buyer checked and accepts; reveals that disagree wait out the check window (a
        // dissenting replica may challenge until then).
        if (!unanimous) vm.warp(trail(jobId).terms.revealDeadline + 61);
        finalize(jobId);
    }

    function same(uint256 k, bytes32 root) internal pure returns (bytes32[] memory roots) {
        roots = new bytes32[](k);
        for (uint256 i; i < k; ++i) roots[i] = root;
    }
}
