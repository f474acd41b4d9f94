//! `make bench-dispute`: one whole dispute of the court on a real anvil, written as JSON.
//!
//! usage: dispute_bench <anvil> <trace.bin> <out.json> [levels-per-move]
//!
//! (levels-per-move: how many levels of the trace tree one move descends; the local network's
//! parameter, 3, when left out.)
//!
//! The trace is a real run's (`gridmint run` of a 4,096-sentence embed job writes `trace.bin`
//! among its outputs). Three replicas: two collude on a copy of it with one step wrong, one is
//! honest; the buyer (its spot check failed) challenges; the colluders' claim defends and the
//! buyer steers the bisection to the wrong step (⌈log2 steps / levelsPerMove⌉ rounds, each a split
//! and a pick);
//! the defender opens the leaf; of seven providers in the jury pool (entered before the job, not
//! counted), the five with the best tickets in the leaf's draw take the seats by committing, then
//! reveal, the step's true output hash; the verdict slashes the colluders; the buyer accepts the
//! honest claim left. `gas_total` sums the receipts of every transaction of the dispute, from the
//! challenge to the settlement; `jury_compute_share` is the jurors' re-runs of the step (five
//! times its flops) over the job's flops.

use std::time::Instant;

use alloy::{
    node_bindings::Anvil,
    primitives::{Address, B256, U256, Uint, keccak256},
    rpc::types::TransactionReceipt,
};
use gridmint_chain::{
    bindings::{Gridmint, MockStablecoin},
    commitment,
};
use gridmint_runner::trace::{Trace, claim_root};

const JURORS: usize = 7;

/// Node `i` of tree level `level` (0: the leaves).
fn levels_of(levels: &[Vec<gridmint_runner::trace::Node>], level: usize, i: usize) -> gridmint_runner::trace::Node {
    levels[level][i]
}

#[path = "../../chain/examples/support/anvil_net.rs"]
mod anvil_net;
use anvil_net::Net;

/// Sends a call and returns its receipt, failing on a revert. The gas limit is set, not
/// estimated: a commitment's gas depends on the seats taken before it when it lands, so an
/// estimate made on another state can fall short (the receipt's `gasUsed` is what is counted).
macro_rules! send {
    ($call:expr) => {{
        let receipt: TransactionReceipt = $call.gas(3_000_000).send().await?.get_receipt().await?;
        anyhow::ensure!(receipt.status(), "{} reverted", stringify!($call));
        receipt
    }};
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (anvil, trace_file, out, levels_per_move) = match args.as_slice() {
        [anvil, trace, out] => (anvil, trace, out, None),
        [anvil, trace, out, levels] => (anvil, trace, out, Some(levels.parse::<u8>()?)),
        _ => anyhow::bail!("usage: dispute_bench <anvil> <trace.bin> <out.json> [levels-per-move]"),
    };
    let honest = Trace::decode(&std::fs::read(trace_file)?)?;
    let steps = honest.steps.len();
    anyhow::ensure!(steps > 1, "{trace_file}: a trace of {steps} steps has nothing to bisect");
    // The colluders' trace: the same run with one step's output wrong (two thirds in).
    let wrong = steps * 2 / 3;
    let mut corrupt = honest.clone();
    corrupt.steps[wrong].output[0] ^= 1;
    let (honest_root, corrupt_root) = (B256::from(claim_root(&honest)), B256::from(claim_root(&corrupt)));
    let units = gridmint_protocol::WorkUnits::from_flops(honest.flops()).get();

    let anvil = Anvil::at(anvil).arg("--accounts").arg("12").try_spawn()?;
    // Declared figures matched: the bench's providers pass no device check (on a network that
    // matches verified figures, the draw compares one status more per claimant).
    let mut config = gridmint_chain::deployment::local_config(anvil.addresses()[0], false);
    if let Some(levels) = levels_per_move {
        config.levelsPerMove = levels;
    }
    let net = Net::deploy(&anvil, config).await?;
    let deployment = *net.market.deployment();
    // Accounts 1..=3 are the replicas, 4..=10 the jury pool, 11 the buyer.
    net.register(1..=10).await?;
    // Entering the pool is once per provider, like registering: not part of a dispute's cost.
    let mut join_gas = Vec::new();
    for i in 4..4 + JURORS {
        join_gas.push(send!(net.as_wallet(i).contract().joinJuryPool()).gas_used);
    }
    let buyer_key = 11;
    let buyer = net.as_wallet(buyer_key);
    let buyer_address = net.keys[buyer_key].address();
    let usd = MockStablecoin::new(deployment.payment_token, buyer.contract().provider().clone());
    send!(usd.mint(buyer_address, U256::from(10u64).pow(U256::from(18))));
    buyer.approve_all(buyer_address).await?;

    let now = net.now().await?;
    let params = Gridmint::JobParams {
        specHash: keccak256("job.toml"),
        dataRoot: keccak256("data"),
        dataPeer: keccak256("peer"),
        requirements: Gridmint::Requirements {
            minMemoryMiB: 1024,
            minComputeUnits: 10,
            regionMask: 0,
            workloadClass: 1,
        },
        replicas: 3,
        // 1,000 payment-token base units per work unit (a price is in millionths of one).
        pricePerUnit: Uint::<96, 2>::from(1_000_000_000u64),
        maxWorkUnits: units.max(1) * 2,
        claimDeadline: Uint::<40, 1>::from(now + 30),
        commitDeadline: Uint::<40, 1>::from(now + 300),
        revealDeadline: Uint::<40, 1>::from(now + 600),
    };
    let job_id = buyer.post_job(params).await?.value;
    for i in 1..=3 {
        net.as_wallet(i).claim(job_id).await?;
    }
    net.advance(31).await?;
    let roots = [corrupt_root, corrupt_root, honest_root];
    for i in 1..=3 {
        let address = net.keys[i].address();
        let salt = keccak256(address.as_slice());
        net.as_wallet(i).commit(job_id, U256::from(i - 1), commitment(roots[i - 1], units, salt, address)).await?;
    }
    for i in 1..=3 {
        let address = net.keys[i].address();
        let salt = keccak256(address.as_slice());
        net.as_wallet(i).reveal(job_id, U256::from(i - 1), roots[i - 1], units, salt).await?;
    }

    // The dispute, every transaction's gas counted.
    let started = Instant::now();
    let mut gas: Vec<(&'static str, u64)> = Vec::new();
    gas.push(("challenge", buyer.challenge(buyer_address, job_id, Vec::new()).await?.receipt.gas_used));
    let court = buyer.contract();
    let defender = net.as_wallet(1);
    let defence = defender.contract();
    let levels_tree = corrupt.levels();
    let depth = corrupt.depth() as usize;
    let r = send!(defence.openTrace(job_id, B256::from(corrupt.root()), corrupt.flops(), steps as u32));
    gas.push(("openTrace", r.gas_used));
    let per = usize::from(court.levelsPerMove().call().await?);
    let mut rounds = 0;
    let (mut level, mut position) = (depth, 0usize);
    while level > 0 {
        let levels = per.min(level);
        let below = level - levels;
        let first = position << levels;
        let parts: Vec<B256> =
            (0..1 << levels).map(|i| B256::from(levels_of(&levels_tree, below, first + i).0)).collect();
        let flops: Vec<u64> = (0..1 << levels).map(|i| levels_of(&levels_tree, below, first + i).1).collect();
        let r = send!(defence.splitNode(job_id, parts.clone(), flops.clone()));
        gas.push(("splitNode", r.gas_used));
        let index = (wrong >> below) & ((1 << levels) - 1);
        let r = send!(court.pickPart(job_id, U256::from(index), parts, flops));
        gas.push(("pickPart", r.gas_used));
        position = first + index;
        level = below;
        rounds += 1;
    }
    let leaf = corrupt.steps[wrong];
    let r = send!(defence.openLeaf(job_id, leaf.prev, B256::from(leaf.input), B256::from(leaf.output)));
    gas.push(("openLeaf", r.gas_used));
    let move_window = u64::from(court.moveWindow().call().await?);
    let trail = buyer.trail(job_id).await?;
    // The draw's seed is the leaf's block hash: the members look up their tickets in the next
    // block, and for every seat the best ticket for it comes (what the agent does:
    // `provider::jury`; a member may hold several seats).
    net.advance(1).await?;
    let size = usize::from(court.jurySize().call().await?);
    let mut best: Vec<(u64, usize)> = vec![(u64::MAX, 0); size];
    for i in 4..4 + JURORS {
        let r = court.juryTicketsOf(job_id, net.keys[i].address()).call().await?;
        anyhow::ensure!(r.eligible, "pool member {i} is not eligible");
        for (seat, ticket) in r.tickets.iter().enumerate() {
            if *ticket < best[seat].0 {
                best[seat] = (*ticket, i);
            }
        }
    }
    let parties: Vec<Address> = std::iter::once(buyer_address).chain(trail.claimants.iter().copied()).collect();
    // A juror's answer: the step's output hash, its flops and the trace's length, as it computed
    // them (`Court.openLeaf`).
    let step = honest.steps[wrong];
    let truth = alloy::primitives::keccak256(alloy::sol_types::SolValue::abi_encode(&(
        B256::from(step.output),
        step.flops,
        steps as u32,
    )));
    let mut seated = Vec::new();
    for (seat, &(_, i)) in best.iter().enumerate() {
        let juror = net.keys[i].address();
        let salt = keccak256(juror.as_slice());
        let digest = court.voteDigest(job_id, truth, salt, juror).call().await?;
        let r = send!(net.as_wallet(i).contract().commitVote(job_id, U256::from(seat), digest, parties.clone()));
        gas.push(("commitVote", r.gas_used));
        anyhow::ensure!(r.decoded_log::<Gridmint::VoteCommitted>().is_some(), "commitVote took no seat");
        seated.push((i, U256::from(seat), salt));
    }
    let seats = court.disputeOf(job_id).call().await?.jury.takenSeats.count_ones();
    net.advance(move_window + 1).await?;
    for (i, seat, salt) in seated {
        let r = send!(net.as_wallet(i).contract().revealVote(job_id, seat, truth, salt));
        gas.push(("revealVote", r.gas_used));
    }
    let r = send!(court.advanceDispute(job_id, trail.clone()));
    gas.push(("advanceDispute (verdict)", r.gas_used));
    let r = send!(court.advanceDispute(job_id, trail));
    gas.push(("advanceDispute (the buyer accepts the claim left)", r.gas_used));
    let wall_s = started.elapsed().as_secs_f64();
    anyhow::ensure!(buyer.agreed_root(job_id).await? == honest_root, "the honest claim did not win");
    let slashed = buyer.reputation(net.keys[1].address()).await?.slashed;
    anyhow::ensure!(slashed == 1, "the colluder was not slashed");

    let gas_total: u64 = gas.iter().map(|(_, g)| g).sum();
    let step_flops = honest.steps[wrong].flops as f64;
    let json = serde_json::json!({
        "chain_id": net.chain_id,
        "steps": steps,
        "rounds": rounds,
        "tree_depth": depth,
        "levels_per_move": per,
        "step": wrong,
        "jury_seats": seats,
        "jury_pool": JURORS,
        "join_jury_pool_gas": join_gas.first().copied().unwrap_or(0),
        "gas_total": gas_total,
        "target_gas_total": 2_000_000,
        "wall_s": wall_s,
        "jury_compute_share": f64::from(seats) * step_flops / honest.flops() as f64,
        "step_compute_share": step_flops / honest.flops() as f64,
        "target_jury_compute_share": 0.01,
        "transactions": gas.iter().map(|(call, g)| serde_json::json!({"call": call, "gas": g})).collect::<Vec<_>>(),
        "measured": "sum of receipt gasUsed on anvil from the challenge to the settlement (crates/node/examples/dispute_bench.rs); wall_s on the local chain with instant blocks, deadlines advanced by anvil",
    });
    std::fs::write(out, serde_json::to_string_pretty(&json)?)?;
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(())
}
