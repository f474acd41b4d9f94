//! `make bench-market`, the device challenge's part (issue #23): how long a challenge takes on
//! this machine's device, and how many of 1,000 simulated lying provers pass its check.
//!
//! usage: challenge_bench <out.json> [declared-MiB] [liars]
//!
//! The device part answers a real challenge for a provider that declared `declared-MiB` (1,024
//! when left out) on the best Vulkan device, in the unfused class: the fill of
//! `protocol::challenge::FILL_PERCENT` of it and the walk, every matrix hashed; then it opens
//! `SAMPLES` sampled rows and checks them as a juror does (`challenge_s`, `check_s`).
//!
//! The simulated part runs the same checker against provers that overstate what they have, at a
//! small shape (blocks of 16², 64 blocks, 64 walk steps) where a thousand answers take seconds.
//! Time is counted in steps: a prover with a share `rate` of its declared compute has
//! `SLACK × steps × rate` steps before the deadline. One that kept a share `q` of the fill
//! recomputes a missing block from the nearest it kept below (one step per block between), if at
//! most `limit` steps away and its time allows; otherwise it writes the step with the nearest
//! kept block in its place, or, out of time, copies the step's input: every such step is wrong,
//! and the check catches it when one of its rows is sampled. A prover never misses the deadline
//! in this model: it writes wrong steps instead, the best it can do against a deadline. Liars
//! overstate memory or compute (or both) at least twofold; `tolerance` shows the pass rate of
//! smaller overstatements, which the slack lets through by design.

use std::time::Instant;

use gpu_engine::{
    DeviceChoice, Gpu, GpuOptions, ReproClass, Vulkan, commitment,
    seeded::SplitMix64,
    workloads::challenge::{ChallengeProver, ChallengeSpec, Transcript, block_leaf, check_answer, fill_row, walk_row},
};
use gridmint_protocol::challenge::{self as terms, SAMPLES, SLACK_DEN, SLACK_NUM};

/// How a simulated prover lies.
#[derive(Debug, Clone, Copy)]
struct Liar {
    /// Share of the fill it kept.
    kept: f64,
    /// Its compute over the declared.
    rate: f64,
    /// The most steps it recomputes for one missing block.
    limit: u64,
}

impl Liar {
    fn overstates(&self) -> f64 {
        (1.0 / self.kept).max(1.0 / self.rate)
    }
}

/// Whether the liar's answer passes the check, and the share of its steps it wrote wrong.
fn simulate(seed: [u8; 32], liar: Liar, sample_seed: [u8; 32]) -> (bool, f64) {
    let spec = ChallengeSpec::new(seed, 16, 64, 64, ReproClass::Unfused).expect("a valid shape");
    let m = spec.side as usize;
    let n = spec.blocks as u64;
    let (w, v) = spec.weights();
    let budget = SLACK_NUM as f64 / SLACK_DEN as f64 * spec.steps() as f64 * liar.rate;
    let kept = |b: u64| b == 0 || b == n - 1 || (b as f64 * liar.kept).floor() > ((b - 1) as f64 * liar.kept).floor();
    let kept_below = |b: u64| (0..=b).rev().find(|&x| kept(x)).expect("block 0 is kept");
    let mut used = 0.0;
    let mut wrong = 0u64;
    let mut mats = vec![spec.origin()];
    for step in 1..=spec.steps() {
        let prev = mats.last().expect("the origin").clone();
        let rows = |f: &dyn Fn(usize) -> Vec<f32>| -> Vec<f32> { (0..m).flat_map(f).collect() };
        let next = if step < n {
            if used + 1.0 <= budget {
                used += 1.0;
                rows(&|r| fill_row(&spec, &w, &prev[r * m..(r + 1) * m]))
            } else {
                wrong += 1;
                prev
            }
        } else {
            let reads = spec.reads(&block_leaf(&prev, spec.side));
            if used + 1.0 > budget {
                wrong += 1;
                prev
            } else {
                used += 1.0;
                let mut faked = false;
                let held: Vec<Vec<f32>> = reads
                    .iter()
                    .map(|&b| {
                        let b = u64::from(b);
                        let below = kept_below(b);
                        let cost = (b - below) as f64;
                        if cost == 0.0 || (b - below <= liar.limit && used + cost <= budget) {
                            used += cost;
                            mats[b as usize].clone()
                        } else {
                            faked = true;
                            mats[below as usize].clone()
                        }
                    })
                    .collect();
                wrong += u64::from(faked);
                rows(&|r| {
                    let stored: Vec<&[f32]> = held.iter().map(|h| &h[r * m..(r + 1) * m]).collect();
                    walk_row(&spec, &v, &prev[r * m..(r + 1) * m], &stored)
                })
            }
        };
        mats.push(next);
    }
    let leaves: Vec<_> = mats.iter().map(|x| block_leaf(x, spec.side)).collect();
    let root = commitment::root(&leaves);
    let transcript = Transcript { matrices: mats, leaves, root };
    let origin = commitment::prove(&transcript.leaves, 0).expect("leaf 0");
    let samples = spec.samples(sample_seed, SAMPLES);
    let passed = check_answer(&spec, &root, &origin, &samples, |s| transcript.open(&spec, s)).is_ok();
    (passed, wrong as f64 / spec.steps() as f64)
}

fn seed(rng: &mut SplitMix64) -> [u8; 32] {
    let mut s = [0u8; 32];
    for chunk in s.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
    }
    s
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(out_path) = args.first() else {
        anyhow::bail!("usage: challenge_bench <out.json> [declared-MiB] [liars]");
    };
    let declared_mib: u32 = args.get(1).map(|a| a.parse()).transpose()?.unwrap_or(1024);
    let liars: usize = args.get(2).map(|a| a.parse()).transpose()?.unwrap_or(1000);

    // The device: one real challenge, timed.
    let gpu = Gpu::open(&Vulkan::load()?, DeviceChoice::Best, GpuOptions::default())?;
    let spec = ChallengeSpec::for_fill([0x5a; 32], terms::fill_bytes(declared_mib), ReproClass::Unfused)?;
    let prover = ChallengeProver::new(&gpu, ReproClass::Unfused)?;
    let start = Instant::now();
    let answer = prover.answer(&gpu, &spec)?;
    let challenge_s = start.elapsed().as_secs_f64();
    let samples = spec.samples([0xa5; 32], SAMPLES);
    let start = Instant::now();
    let openings = prover.open(&gpu, &spec, &answer, &samples)?;
    let open_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut opened = openings.into_iter();
    check_answer(&spec, &answer.root, &answer.origin_proof(), &samples, |_| opened.next().expect("one per sample"))
        .map_err(|e| anyhow::anyhow!("the device's own answer failed its check: {e}"))?;
    let check_s = start.elapsed().as_secs_f64();
    let gflops = spec.flops() as f64 / challenge_s / 1e9;
    let hashed = spec.leaves() * u64::from(spec.side) * u64::from(spec.side) * 4;
    let deadline = terms::deadline_s(spec.flops(), hashed, gflops as u32);
    eprintln!(
        "{}: {} blocks of {}² ({} MiB) and {} walk steps in {challenge_s:.2} s ({gflops:.1} GFLOP/s); opened {SAMPLES} rows in {open_s:.2} s, checked in {check_s:.3} s; deadline at this rate {deadline} s",
        gpu.info().name,
        spec.blocks,
        spec.side,
        spec.fill_bytes() >> 20,
        spec.walk
    );

    // The simulation: liars overstating at least twofold, then smaller overstatements and honest provers.
    let mut rng = SplitMix64::new(0x6c69_6172);
    let limits = [0, 1, 2, 4, 8, 64];
    let liar = |rng: &mut SplitMix64, i: usize| match i % 5 {
        0 | 1 => Liar { kept: rng.range(0.02, 0.5) as f64, rate: 1.0, limit: limits[rng.below(6) as usize] },
        2 | 3 => Liar { kept: 1.0, rate: rng.range(0.05, 0.5) as f64, limit: 0 },
        _ => {
            // Both: at least twofold in one of the two.
            let kept = rng.range(0.02, 1.0) as f64;
            let rate = if kept > 0.5 { rng.range(0.05, 0.5) } else { rng.range(0.05, 1.0) } as f64;
            Liar { kept, rate, limit: limits[rng.below(6) as usize] }
        }
    };
    let start = Instant::now();
    let mut false_accept = 0;
    let mut least_wrong = f64::MAX;
    for i in 0..liars {
        let l = liar(&mut rng, i);
        assert!(l.overstates() >= 2.0, "{l:?}");
        let (passed, wrong) = simulate(seed(&mut rng), l, seed(&mut rng));
        least_wrong = least_wrong.min(wrong);
        if passed {
            false_accept += 1;
            eprintln!("a liar passed: {l:?}, {:.1}% of its steps wrong", wrong * 100.0);
        }
    }
    let simulate_s = start.elapsed().as_secs_f64();
    let mut honest_pass = 0;
    for _ in 0..20 {
        let (passed, wrong) = simulate(seed(&mut rng), Liar { kept: 1.0, rate: 1.0, limit: 0 }, seed(&mut rng));
        honest_pass += usize::from(passed && wrong == 0.0);
    }
    let mut tolerance = Vec::new();
    for factor in [1.1, 1.25, 1.5, 1.75] {
        let (mut memory, mut compute) = (0, 0);
        for _ in 0..50 {
            let m = Liar { kept: 1.0 / factor, rate: 1.0, limit: 64 };
            memory += usize::from(simulate(seed(&mut rng), m, seed(&mut rng)).0);
            let c = Liar { kept: 1.0, rate: 1.0 / factor, limit: 0 };
            compute += usize::from(simulate(seed(&mut rng), c, seed(&mut rng)).0);
        }
        tolerance.push(serde_json::json!({
            "overstates": factor, "memory_pass_of_50": memory, "compute_pass_of_50": compute,
        }));
    }
    eprintln!(
        "{liars} liars: {false_accept} passed (the least wrong wrote {:.1}% of its steps wrong); honest {honest_pass}/20; {simulate_s:.1} s",
        least_wrong * 100.0
    );

    let out = serde_json::json!({
        "device": gpu.info().name,
        "declared_mib": declared_mib,
        "fill_mib": spec.fill_bytes() >> 20,
        "side": spec.side,
        "blocks": spec.blocks,
        "walk_steps": spec.walk,
        "challenge_gflop": spec.flops() as f64 / 1e9,
        // Seconds this device took to answer: the fill and the walk, every matrix hashed.
        "challenge_s": challenge_s,
        "challenge_gflops": gflops,
        // The deadline a provider declaring this measured rate would get.
        "deadline_s_at_measured_rate": deadline,
        "samples": SAMPLES,
        "open_s": open_s,
        "check_s": check_s,
        "liars": liars,
        // Liars (overstating memory, compute or both at least twofold) whose answer passed.
        "false_accept": false_accept,
        "false_accept_target": 0,
        "least_wrong_share": least_wrong,
        "honest_pass_of_20": honest_pass,
        "tolerance": tolerance,
        "slack": SLACK_NUM as f64 / SLACK_DEN as f64,
        "simulate_s": simulate_s,
    });
    std::fs::write(out_path, serde_json::to_string_pretty(&out)? + "\n")?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    if false_accept != 0 || honest_pass != 20 {
        anyhow::bail!("{false_accept} liars passed and {honest_pass} of 20 honest provers passed");
    }
    Ok(())
}
