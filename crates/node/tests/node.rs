//! Integration tests of the node library against real parts.
//!
//! Module map:
//! - `wallet`: keys in the real Secret Service (gnome-keyring in a dbus session; `make test` runs
//!   the suite under scripts/with-keyring.sh). Skips without one unless GRIDMINT_REQUIRE_KEYRING=1.
//! - `spot`: the buyer's spot check of a training result on the real engine, through a drawn
//!   epoch, and a juror's re-run through the disputed one (the runner's own tests are in
//!   crates/runner/tests); a fine-tuning run re-run through a segment by a spot check and a juror.
//! - `generation`: a generate job's shards, the buyer's spot check of a sample of its prompts and
//!   a juror's re-run of one prompt, each against the whole job's run (llvmpipe).
//! - `kernel_jobs`: a juror's re-run of a kernel job's dispatches up to the disputed one, and the
//!   buyer's spot check through a drawn dispatch (llvmpipe).
//! - `peer`: job data between real iroh endpoints on a real anvil: only claimants get a job's data,
//!   sealed to them; only claimants deliver results, sealed to the buyer and matching their root.
//! - `device_checks`: a provider's device check on a real anvil, answered on llvmpipe, its sampled
//!   rows judged by the jury pool (three jury-only providers and the other provider): it is
//!   verified; a provider that registered more memory than its device has cannot answer and
//!   stays unverified, a miss counted; once the verified provider's next check is due a pool
//!   member opens it and it passes again; a job that asks for memory then goes to the verified provider only.
//! - `claims`: a provider reads a job's card before it claims: one without the job's model declines
//!   it, one with it runs it; a replica whose buyer stops serving the data leaves the job unslashed
//!   (refunded) before its commit deadline.
//! - `shards`: a sharded embedding job whose shards nobody could take in time (the only provider
//!   is paused) is refunded, posted again by the buyer, and completes on the provider (in-process,
//!   on llvmpipe, on a real anvil).
//!
//! The desktop's local network (`LocalMarket`) is tested in crates/agent/tests/local.rs.

/// The bundled anvil, or a skip (a failure under GRIDMINT_REQUIRE_CHAIN=1).
fn anvil() -> Option<std::path::PathBuf> {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    if p.is_file() {
        return Some(p);
    }
    assert!(std::env::var("GRIDMINT_REQUIRE_CHAIN").as_deref() != Ok("1"), "GRIDMINT_REQUIRE_CHAIN=1 but no anvil");
    eprintln!("SKIPPED: no anvil");
    None
}

mod wallet {
    use std::process::Command;

    use gridmint_node::wallet::{ExportConfirmation, KEYRING_SERVICE, Wallet, WalletError};

    /// anvil's first account: the standard test mnemonic.
    const TEST_PHRASE: &str = "test test test test test test test test test test test junk";

    fn keyring() -> Option<()> {
        let probe = Wallet::named(format!("probe-{}", std::process::id()));
        match probe.address() {
            Err(WalletError::Keyring { message }) => {
                assert!(
                    std::env::var("GRIDMINT_REQUIRE_KEYRING").as_deref() != Ok("1"),
                    "GRIDMINT_REQUIRE_KEYRING=1 but: {message}"
                );
                eprintln!("SKIPPED: no Secret Service ({message})");
                None
            }
            _ => Some(()),
        }
    }

    fn slot(name: &str) -> Wallet {
        let w = Wallet::named(format!("test-{name}-{}", std::process::id()));
        w.delete().expect("a clean slot");
        w
    }

    #[test]
    fn imported_mnemonic_lives_in_the_secret_service_and_derives_the_known_address() {
        if keyring().is_none() {
            return;
        }
        let w = slot("import");
        let address = w.import(&format!("  {}  ", TEST_PHRASE.to_uppercase())).expect("import");
        assert_eq!(
            address.to_string(),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
            "m/44'/60'/0'/0/0 of the test mnemonic"
        );
        assert_eq!(w.address().expect("address"), address, "read back from the keyring");
        // The real Secret Service holds it: ask it directly.
        let out = Command::new("secret-tool")
            .args(["lookup", "service", KEYRING_SERVICE, "username", w.account()])
            .output()
            .expect("secret-tool runs");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            TEST_PHRASE,
            "the Secret Service returns the normalized phrase"
        );
        match w.import(TEST_PHRASE) {
            Err(WalletError::AlreadyExists { address: a, .. }) => assert_eq!(a, address),
            other => panic!("a second import must not overwrite the key: {other:?}"),
        }
        assert!(matches!(w.export_mnemonic(ExportConfirmation::NotConfirmed), Err(WalletError::NotConfirmed)));
        assert_eq!(w.export_mnemonic(ExportConfirmation::Confirmed).expect("export").as_str(), TEST_PHRASE);
        w.delete().expect("delete");
        assert!(matches!(w.address(), Err(WalletError::NoWallet { .. })), "gone after delete");
    }

    #[test]
    fn a_new_wallet_has_twelve_words_that_derive_its_address() {
        if keyring().is_none() {
            return;
        }
        let (a, b) = (slot("new-a"), slot("new-b"));
        let address = a.create().expect("create");
        let phrase = a.export_mnemonic(ExportConfirmation::Confirmed).expect("export");
        assert_eq!(phrase.split(' ').count(), 12, "12 words");
        assert_eq!(b.import(&phrase).expect("import elsewhere"), address, "the backup restores the same key");
        assert!(matches!(b.create(), Err(WalletError::AlreadyExists { .. })), "create never overwrites");
        assert_ne!(slot("new-c").create().expect("another"), address, "each new wallet is a new key");
        for w in [a, b, Wallet::named(format!("test-new-c-{}", std::process::id()))] {
            w.delete().expect("clean up");
        }
    }

    #[test]
    fn an_invalid_mnemonic_is_refused_without_echoing_it() {
        if keyring().is_none() {
            return;
        }
        let w = slot("invalid");
        let secretish = "test test test test test test test test test test test test";
        let err = w.import(secretish).expect_err("bad checksum").to_string();
        assert!(err.starts_with("that is not a valid BIP-39 mnemonic"), "{err}");
        assert!(!err.contains("test test"), "the error must not repeat the words: {err}");
        assert!(matches!(w.address(), Err(WalletError::NoWallet { .. })), "nothing stored");
        let err = w
            .import("test test test test test test test test test test test gridmint")
            .expect_err("unknown word")
            .to_string();
        assert!(err.contains("word 12 is not in the BIP-39 English word list"), "{err}");
        let err = w.import("test test test").expect_err("too short").to_string();
        assert!(err.contains("it has 3 words"), "{err}");
    }
}

mod spot {
    use std::{
        fs,
        path::{Path, PathBuf},
    };

    use gpu_engine::{DeviceChoice, Gpu, GpuOptions, Vulkan};
    use gridmint_node::Paths;
    use gridmint_protocol::RunReport;
    use gridmint_runner as runner;

    pub(super) fn required(what: &str) -> bool {
        let var = if what == "vulkan" { "GRIDMINT_REQUIRE_VULKAN" } else { "GRIDMINT_REQUIRE_REFERENCE" };
        std::env::var(var).as_deref() == Ok("1")
    }

    pub(super) fn gpu() -> Option<Gpu> {
        match Vulkan::load().and_then(|vk| Gpu::open(&vk, DeviceChoice::Best, GpuOptions::default())) {
            Ok(gpu) => Some(gpu),
            Err(e) if !required("vulkan") => {
                eprintln!("SKIPPED: no Vulkan device ({e})");
                None
            }
            Err(e) => panic!("GRIDMINT_REQUIRE_VULKAN=1 but: {e}"),
        }
    }

    /// The user's model cache (where `make setup` put MiniLM), with a scratch home otherwise.
    pub(super) fn paths(scratch: &Path) -> Paths {
        let paths = Paths::under(scratch);
        match Paths::discover() {
            Some(real) => paths.with_models(real.models),
            None => paths,
        }
    }

    fn package(dir: &Path, manifest: &str, files: &[(&str, &[u8])]) -> PathBuf {
        fs::create_dir_all(dir).expect("package folder");
        fs::write(dir.join("job.toml"), manifest).expect("manifest");
        for (name, bytes) in files {
            fs::write(dir.join(name), bytes).expect("package file");
        }
        dir.to_owned()
    }

    pub(super) fn run(paths: &Paths, gpu: &Gpu, package: &Path, out: &Path) -> Result<RunReport, runner::JobError> {
        runner::run(paths, gpu, package, out, gridmint_protocol::ReproClass::Unfused, &mut |_| {})
    }

    /// A juror's re-run: `files` (a step's package) written to `dir`, run into `<dir>-out`; its trace.
    fn juror_run(paths: &Paths, gpu: &Gpu, dir: &Path, files: &[(String, Vec<u8>)]) -> runner::trace::Trace {
        gridmint_peer::exchange::write_all(dir, files).expect("write");
        let out = dir.with_extension("out");
        run(paths, gpu, dir, &out).expect("the juror's run");
        runner::trace::Trace::decode(&fs::read(out.join("trace.bin")).expect("trace")).expect("a trace")
    }

    /// A small training job (three epochs of an MLP on 48 rows, `extra` added to its `[train]`
    /// table) run here into `<tmp>/out`: the scratch folder, paths, device and package folder;
    /// `None` (a skip) without a Vulkan device.
    fn trained(extra: &str) -> Option<(tempfile::TempDir, Paths, Gpu, PathBuf)> {
        let gpu = gpu()?;
        let tmp = tempfile::tempdir().expect("tmp");
        let paths = paths(tmp.path());
        let rows: String = (0..48).map(|i| format!("{},{},{}\n", i % 3, (i * 5) % 7, i % 2)).collect();
        let job = format!(
            "kind = \"train\"\ndata = \"d.csv\"\n[train]\nhidden = [4]\nlearning_rate = 0.1\n{extra}epochs = 3\nbatch_size = 8\n"
        );
        let folder = package(&tmp.path().join("job"), &job, &[("d.csv", rows.as_bytes())]);
        run(&paths, &gpu, &folder, &tmp.path().join("out")).expect("the job runs");
        Some((tmp, paths, gpu, folder))
    }

    /// A juror judges a training run's epoch by re-running the job through it (its epochs cut
    /// there): its answer is the one an honest defender opens at that leaf (output, flops, the
    /// run's epochs), and a leaf whose input is not the posted package's (epoch 1) or the epoch
    /// before's as the juror recomputed it (a later one: the momentum is on no leaf) gets a hash
    /// that is no one's.
    #[test]
    fn a_juror_reruns_a_training_run_through_the_disputed_epoch() {
        use alloy::{
            primitives::{B256, keccak256},
            sol_types::SolValue,
        };
        use gridmint_node::judge::{self, Judged};
        use gridmint_peer::exchange;
        let Some((tmp, paths, gpu, folder)) = trained("momentum = 0.9\n") else { return };
        let trace =
            runner::trace::Trace::decode(&fs::read(tmp.path().join("out/trace.bin")).expect("trace")).expect("a trace");
        assert_eq!(trace.steps.len(), 3, "one step per epoch");
        let first = trace.steps[0];
        let honest = keccak256((B256::from(first.output), first.flops, 3u32).abi_encode());
        let files = || -> Vec<(String, Vec<u8>)> {
            exchange::files(&folder).expect("files").into_iter().map(|(n, p)| (n, fs::read(p).expect("read"))).collect()
        };
        let judged = |step: u32, in_hash: B256| judge::step_run(&folder, files(), step, step, in_hash).expect("judged");
        let Judged::Run(step_run) = judged(0, B256::from(first.input)) else { panic!("epoch 1 is re-run") };
        let one = tmp.path().join("one");
        exchange::write_all(&one, &step_run.files).expect("write");
        run(&paths, &gpu, &one, &tmp.path().join("one-out")).expect("one epoch runs");
        let mine = runner::trace::Trace::decode(&fs::read(tmp.path().join("one-out/trace.bin")).expect("trace"))
            .expect("a trace");
        assert_eq!(step_run.answer(&mine), honest, "the juror's answer is the honest defender's");
        let Judged::Run(forged) = judged(0, B256::repeat_byte(7)) else { panic!("epoch 1 is re-run") };
        assert_eq!(forged.answer(&mine), judge::unchecked(), "a leaf that starts elsewhere is no one's answer");
        // Epochs 2 and 3: the job through them, from its own epochs before.
        for step in [1u32, 2] {
            let leaf = trace.steps[step as usize];
            let honest = keccak256((B256::from(leaf.output), leaf.flops, 3u32).abi_encode());
            let Judged::Run(step_run) = judged(step, B256::from(leaf.input)) else {
                panic!("epoch {} is re-run", step + 1)
            };
            let mine = juror_run(&paths, &gpu, &tmp.path().join(format!("through-{step}")), &step_run.files);
            assert_eq!(mine.steps.len(), step as usize + 1, "the epochs through the disputed one");
            assert_eq!(step_run.answer(&mine), honest, "epoch {}: the honest defender's answer", step + 1);
            let Judged::Run(forged) = judged(step, B256::repeat_byte(7)) else { panic!("re-run") };
            assert_eq!(forged.answer(&mine), judge::unchecked(), "a leaf whose epoch before is not the juror's");
        }
        let past = keccak256((B256::ZERO, 0u64, 3u32).abi_encode());
        assert!(matches!(judged(3, B256::ZERO), Judged::Answer(a) if a == past), "past the last epoch: empty");
    }

    /// The buyer's spot check of a training result re-runs it through a random epoch: a true
    /// result agrees whatever the draw, a wrong one (its checkpoints changed, bound to a trace
    /// made from them) does not; one right in epoch 1 and wrong after it (the rest skipped) is
    /// caught by a draw past epoch 1 and missed by one at it.
    #[test]
    fn a_training_spot_check_reruns_the_job_through_a_random_epoch() {
        use gridmint_node::spot::{SpotCheck, SpotOutcome};
        use gridmint_peer::exchange;
        let Some((tmp, paths, _gpu, folder)) = trained("") else { return };
        let read_all = |dir: &Path| -> Vec<(String, Vec<u8>)> {
            exchange::files(dir).expect("files").into_iter().map(|(n, p)| (n, fs::read(p).expect("read"))).collect()
        };
        let bundle = exchange::bundle(&read_all(&folder)).expect("bundle");
        let mut result = read_all(&tmp.path().join("out"));
        // As a replica delivers it: the files, not the runner's report.
        result.retain(|(name, _)| name != gridmint_runner::output::REPORT_FILE);
        let check = SpotCheck { paths: paths.clone(), rows: 4, device: None, worker: None };
        let through = |at: u32, result: &[(String, Vec<u8>)]| {
            check.check_through(&bundle, result, &mut |epochs| {
                assert_eq!(epochs, 3, "drawn among the job's epochs");
                at
            })
        };
        assert_eq!(through(0, &result).expect("checks"), SpotOutcome::Agrees { rows: vec![0] });
        assert_eq!(through(1, &result).expect("checks"), SpotOutcome::Agrees { rows: vec![0, 1] });
        assert_eq!(through(2, &result).expect("checks"), SpotOutcome::Agrees { rows: vec![0, 1, 2] });
        assert!(matches!(check.check(&bundle, &result).expect("checks"), SpotOutcome::Agrees { .. }));
        // A run cut short (two epochs of three), drawn within what it ran: not the job's output.
        let mut short = result.clone();
        let at = short.iter().position(|(n, _)| n == runner::trace::TRACE_FILE).expect("trace");
        let mut cut = runner::trace::Trace::decode(&short[at].1).expect("trace");
        cut.steps.truncate(2);
        short[at].1 = cut.encode();
        assert!(matches!(through(1, &short).expect("checks"), SpotOutcome::Unreadable { .. }), "a short trace");
        // Right in epoch 1, wrong after it, bound to its own trace.
        let mut skipped = result.clone();
        gridmint_runner::binding::consistent_lie_from(&mut skipped, 1).expect("a bound lie");
        assert_eq!(through(0, &skipped).expect("checks"), SpotOutcome::Agrees { rows: vec![0] }, "a draw at epoch 1");
        assert_eq!(through(1, &skipped).expect("checks"), SpotOutcome::Differs { row: 1 });
        assert_eq!(through(2, &skipped).expect("checks"), SpotOutcome::Differs { row: 1 });
        // A wrong result as it is delivered (its files bound to its own trace, or the buyer would
        // not take it): every checkpoint changed, the steps made from them.
        gridmint_runner::binding::consistent_lie(&mut result).expect("a bound lie");
        assert_eq!(through(0, &result).expect("checks"), SpotOutcome::Differs { row: 0 });
        assert_eq!(check.check(&bundle, &result).expect("checks"), SpotOutcome::Differs { row: 0 });
    }

    /// Issue #25: a fine-tuning run (all-MiniLM-L6-v2 on examples/finetune's lines, one epoch in
    /// two segments of five steps) is checked through a segment. The buyer's spot check agrees
    /// with a true result through either segment and not with a wrong one bound to its own trace
    /// (one right in the first segment is caught by a draw of the second); a juror's re-run
    /// through a step answers what the honest defender opens at its leaf (the last step, the
    /// evaluation, by the whole job), and answers past the end with the empty leaf.
    #[test]
    fn spot_checks_and_jurors_rerun_a_fine_tuning_run_through_a_segment() {
        use alloy::{
            primitives::{B256, keccak256},
            sol_types::SolValue,
        };
        use gridmint_node::{
            judge::{self, Judged},
            spot::{SpotCheck, SpotOutcome},
        };
        use gridmint_peer::exchange;
        let Some(gpu) = gpu() else { return };
        let tmp = tempfile::tempdir().expect("tmp");
        let paths = paths(tmp.path());
        if !paths.model("all-MiniLM-L6-v2").join("model.safetensors").is_file() {
            assert!(!required("reference"), "GRIDMINT_REQUIRE_REFERENCE=1 but no all-MiniLM-L6-v2 (make setup)");
            eprintln!("SKIPPED: no all-MiniLM-L6-v2");
            return;
        }
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/finetune");
        let data = fs::read(example.join("train.jsonl")).expect("lines");
        let job = "kind = \"finetune\"\nmodel = \"all-MiniLM-L6-v2\"\ndata = \"train.jsonl\"\n[finetune]\nepochs = 1\n\
                   learning_rate = 1e-4\nbatch_size = 8\nlayers = 2\nsegment_steps = 5\nseed = 3\n";
        let folder = package(&tmp.path().join("job"), job, &[("train.jsonl", &data)]);
        run(&paths, &gpu, &folder, &tmp.path().join("out")).expect("the job runs");
        let read_all = |dir: &Path| -> Vec<(String, Vec<u8>)> {
            exchange::files(dir).expect("files").into_iter().map(|(n, p)| (n, fs::read(p).expect("read"))).collect()
        };
        let trace =
            runner::trace::Trace::decode(&fs::read(tmp.path().join("out/trace.bin")).expect("trace")).expect("a trace");
        assert_eq!(trace.steps.len(), 3, "two segments and the last step");

        // The juror.
        let first = trace.steps[0];
        let honest = keccak256((B256::from(first.output), first.flops, 3u32).abi_encode());
        let judged =
            |step: u32, in_hash: B256| judge::step_run(&folder, read_all(&folder), step, 0, in_hash).expect("judged");
        let Judged::Run(step_run) = judged(0, B256::from(first.input)) else { panic!("segment 1 is re-run") };
        let one = tmp.path().join("one");
        exchange::write_all(&one, &step_run.files).expect("write");
        run(&paths, &gpu, &one, &tmp.path().join("one-out")).expect("one segment runs");
        let mine = runner::trace::Trace::decode(&fs::read(tmp.path().join("one-out/trace.bin")).expect("trace"))
            .expect("a trace");
        assert_eq!(step_run.answer(&mine), honest, "the juror's answer is the honest defender's");
        let Judged::Run(forged) = judged(0, B256::repeat_byte(7)) else { panic!("segment 1 is re-run") };
        assert_eq!(forged.answer(&mine), judge::unchecked(), "a leaf that starts elsewhere is no one's answer");
        // The second segment (the job through it) and the last step (the whole job), each from
        // the juror's own steps before.
        for later in [1u32, 2] {
            let leaf = trace.steps[later as usize];
            let honest = keccak256((B256::from(leaf.output), leaf.flops, 3u32).abi_encode());
            let judged = |in_hash| judge::step_run(&folder, read_all(&folder), later, later, in_hash).expect("judged");
            let Judged::Run(step_run) = judged(B256::from(leaf.input)) else { panic!("step {later} is re-run") };
            let mine = juror_run(&paths, &gpu, &tmp.path().join(format!("through-{later}")), &step_run.files);
            assert_eq!(step_run.answer(&mine), honest, "step {later}: the honest defender's answer");
            let Judged::Run(forged) = judged(B256::repeat_byte(7)) else { panic!("re-run") };
            assert_eq!(forged.answer(&mine), judge::unchecked(), "a leaf whose step before is not the juror's");
        }
        let past = keccak256((B256::ZERO, 0u64, 3u32).abi_encode());
        assert!(matches!(judged(3, B256::ZERO), Judged::Answer(a) if a == past), "past the last step: empty");

        // The buyer's spot check.
        let bundle = exchange::bundle(&read_all(&folder)).expect("bundle");
        let mut result = read_all(&tmp.path().join("out"));
        result.retain(|(name, _)| name != gridmint_runner::output::REPORT_FILE);
        let check = SpotCheck { paths: paths.clone(), rows: 4, device: None, worker: None };
        let through = |at: u32, result: &[(String, Vec<u8>)]| {
            check.check_through(&bundle, result, &mut |segments| {
                assert_eq!(segments, 2, "drawn among the job's segments");
                at
            })
        };
        assert_eq!(through(0, &result).expect("checks"), SpotOutcome::Agrees { rows: vec![0] });
        // Through the last segment: the whole job, its evaluation too.
        assert_eq!(through(1, &result).expect("checks"), SpotOutcome::Agrees { rows: vec![0, 1, 2] });
        // Right in the first segment, wrong after it: caught by a draw of the second.
        let mut skipped = result.clone();
        gridmint_runner::binding::consistent_lie_from(&mut skipped, 1).expect("a bound lie");
        assert_eq!(through(0, &skipped).expect("checks"), SpotOutcome::Agrees { rows: vec![0] });
        assert_eq!(through(1, &skipped).expect("checks"), SpotOutcome::Differs { row: 1 });
        gridmint_runner::binding::consistent_lie(&mut result).expect("a bound lie");
        assert_eq!(through(0, &result).expect("checks"), SpotOutcome::Differs { row: 0 });
        // A result whose trace is shorter than the job's is not its output.
        let mut short = read_all(&tmp.path().join("out"));
        short.retain(|(name, _)| name != gridmint_runner::output::REPORT_FILE);
        let at = short.iter().position(|(n, _)| n == runner::trace::TRACE_FILE).expect("trace");
        let mut cut = trace.clone();
        cut.steps.truncate(2);
        short[at].1 = cut.encode();
        assert!(matches!(check.check(&bundle, &short).expect("checks"), SpotOutcome::Unreadable { .. }));

        // A job of one segment is checked whole: the spot check compares both steps, and a juror
        // re-runs the last one (the evaluation) from the segment it recomputes.
        let job1 = job.replace("segment_steps = 5", "segment_steps = 10");
        let folder1 = package(&tmp.path().join("job1"), &job1, &[("train.jsonl", &data)]);
        run(&paths, &gpu, &folder1, &tmp.path().join("out1")).expect("the job runs");
        let trace1 = runner::trace::Trace::decode(&fs::read(tmp.path().join("out1/trace.bin")).expect("trace"))
            .expect("a trace");
        assert_eq!(trace1.steps.len(), 2, "one segment and the last step");
        let bundle1 = exchange::bundle(&read_all(&folder1)).expect("bundle");
        let mut result1 = read_all(&tmp.path().join("out1"));
        result1.retain(|(name, _)| name != gridmint_runner::output::REPORT_FILE);
        assert_eq!(check.check(&bundle1, &result1).expect("checks"), SpotOutcome::Agrees { rows: vec![0, 1] });
        let last = trace1.steps[1];
        let judged = judge::step_run(&folder1, read_all(&folder1), 1, 1, B256::from(last.input)).expect("judged");
        let Judged::Run(step_run) = judged else { panic!("the last step of a one-segment job is re-run") };
        exchange::write_all(&tmp.path().join("juror"), &step_run.files).expect("write");
        run(&paths, &gpu, &tmp.path().join("juror"), &tmp.path().join("juror-out")).expect("the juror's run");
        let mine = runner::trace::Trace::decode(&fs::read(tmp.path().join("juror-out/trace.bin")).expect("trace"))
            .expect("a trace");
        assert_eq!(step_run.answer(&mine), keccak256((B256::from(last.output), last.flops, 2u32).abi_encode()));
    }
}

mod generation {
    use std::{fs, path::Path};

    use alloy::{
        primitives::{B256, keccak256},
        sol_types::SolValue,
    };
    use gridmint_node::{
        buyer,
        judge::{self, Judged},
        spot::{SpotCheck, SpotOutcome},
    };
    use gridmint_peer::exchange;
    use gridmint_runner as runner;

    fn read_all(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<(String, Vec<u8>)> =
            exchange::files(dir).expect("files").into_iter().map(|(n, p)| (n, fs::read(p).expect("read"))).collect();
        files.retain(|(name, _)| name != runner::output::REPORT_FILE);
        files
    }

    /// Issue #24 point 5: a generate job with sampled prompts, split into shards, gives the
    /// whole job's completions shard by shard; the buyer's spot check of a sample of prompts
    /// agrees with a true result and not with a wrong one bound to its own trace; a juror's
    /// re-run of one prompt answers what the honest defender opens at its leaf.
    #[test]
    fn shards_samples_and_a_jurors_step_give_the_whole_jobs_completions() {
        let Some(gpu) = super::spot::gpu() else { return };
        let tmp = tempfile::tempdir().expect("tmp");
        let paths = super::spot::paths(tmp.path());
        let pkg = tmp.path().join("job");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/reference/lm_job.py");
        let made =
            std::process::Command::new("python3").arg(&script).arg(&pkg).arg("llama").output().expect("python3 runs");
        if !made.status.success() {
            assert!(!super::spot::required("reference"), "lm_job.py failed: {}", String::from_utf8_lossy(&made.stderr));
            eprintln!("SKIPPED: lm_job.py failed");
            return;
        }
        let prompts: String = (0..5)
            .map(|i| {
                format!(
                    "{{\"prompt\": \"The quick {i}\", \"temperature\": 0.8, \"seed\": {i}, \"max_new_tokens\": {}}}\n",
                    4 + i
                )
            })
            .collect();
        fs::write(pkg.join("prompts.jsonl"), &prompts).expect("prompts");
        super::spot::run(&paths, &gpu, &pkg, &tmp.path().join("out")).expect("the job runs");
        let file = runner::generate::COMPLETIONS_FILE;
        let completions = fs::read_to_string(tmp.path().join("out").join(file)).expect("completions");

        let shards = buyer::shard(&pkg, &tmp.path().join("shards"), 2).expect("shards");
        assert_eq!(shards.len(), 3);
        let mut outs = Vec::new();
        for (i, shard) in shards.iter().enumerate() {
            outs.push(tmp.path().join(format!("shard-out-{i}")));
            super::spot::run(&paths, &gpu, shard, &outs[i]).expect("a shard runs");
        }
        assert_eq!(buyer::join_completions(&outs, &tmp.path().join("joined")).expect("joined"), 5);
        let joined = fs::read_to_string(tmp.path().join("joined").join(file)).expect("joined");
        assert_eq!(joined, completions, "the shards' completions are the whole job's");

        let bundle = exchange::bundle(&read_all(&pkg)).expect("bundle");
        let mut result = read_all(&tmp.path().join("out"));
        let check = SpotCheck { paths: paths.clone(), rows: 2, device: None, worker: None };
        let SpotOutcome::Agrees { rows } = check.check(&bundle, &result).expect("checks") else {
            panic!("a true result agrees")
        };
        assert_eq!(rows.len(), 2);
        // Every line with a carriage return before its line ending, the trace made again from
        // them: bound, and not the honest bytes, so not agreed with.
        let mut crlf = result.clone();
        let at = crlf.iter().position(|(n, _)| n == file).expect("completions");
        let mut trace =
            runner::trace::Trace::decode(&fs::read(tmp.path().join("out/trace.bin")).expect("trace")).expect("trace");
        let body = String::from_utf8(crlf[at].1.clone()).expect("utf-8");
        crlf[at].1 = body.lines().map(|l| format!("{l}\r\n")).collect::<String>().into_bytes();
        for (step, line) in trace.steps.iter_mut().zip(body.lines()) {
            step.output = *blake3::hash(format!("{line}\r").as_bytes()).as_bytes();
        }
        let t = crlf.iter().position(|(n, _)| n == runner::trace::TRACE_FILE).expect("trace file");
        crlf[t].1 = trace.encode();
        runner::binding::check(&crlf, &trace).expect("bound to its own trace");
        assert!(matches!(check.check(&bundle, &crlf).expect("checks"), SpotOutcome::Differs { .. }));
        runner::binding::consistent_lie(&mut result).expect("a bound lie");
        assert!(matches!(check.check(&bundle, &result).expect("checks"), SpotOutcome::Differs { .. }));

        let trace =
            runner::trace::Trace::decode(&fs::read(tmp.path().join("out/trace.bin")).expect("trace")).expect("trace");
        assert_eq!(trace.steps.len(), 5);
        let step = trace.steps[3];
        let honest = keccak256((B256::from(step.output), step.flops, 5u32).abi_encode());
        let Judged::Run(step_run) =
            judge::step_run(&pkg, read_all(&pkg), 3, 0, B256::from(step.input)).expect("judged")
        else {
            panic!("a prompt is re-run")
        };
        let one = tmp.path().join("one");
        exchange::write_all(&one, &step_run.files).expect("write");
        super::spot::run(&paths, &gpu, &one, &tmp.path().join("one-out")).expect("one prompt runs");
        let mine = runner::trace::Trace::decode(&fs::read(tmp.path().join("one-out/trace.bin")).expect("trace"))
            .expect("trace");
        assert_eq!(step_run.answer(&mine), honest, "the juror's answer is the honest defender's");
    }
}

mod kernel_jobs {
    use std::{fs, path::Path};

    use alloy::{
        primitives::{B256, keccak256},
        sol_types::SolValue,
    };
    use gridmint_node::{
        judge::{self, Judged},
        spot::{SpotCheck, SpotOutcome},
    };
    use gridmint_peer::exchange;
    use gridmint_runner as runner;

    /// Issue #24 point 6 in a dispute: a juror re-runs a kernel job's dispatches up to the
    /// disputed one and answers what the honest defender opens at its leaf; a leaf that does not
    /// start from the state the dispatch before left gets a hash that is no one's; the buyer's
    /// spot check through a drawn dispatch agrees with a true result, misses a lie at dispatch 3
    /// when it draws one before it and catches it at it, and catches a lie at dispatch 1.
    #[test]
    fn a_juror_reruns_a_kernel_job_up_to_the_disputed_dispatch() {
        let Some(gpu) = super::spot::gpu() else { return };
        let tmp = tempfile::tempdir().expect("tmp");
        let paths = super::spot::paths(tmp.path());
        let pkg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/kernel-saxpy");
        super::spot::run(&paths, &gpu, &pkg, &tmp.path().join("out")).expect("the job runs");
        let trace =
            runner::trace::Trace::decode(&fs::read(tmp.path().join("out/trace.bin")).expect("trace")).expect("trace");
        assert_eq!(trace.steps.len(), 4);
        let read_all = |dir: &Path| -> Vec<(String, Vec<u8>)> {
            let mut files: Vec<(String, Vec<u8>)> = exchange::files(dir)
                .expect("files")
                .into_iter()
                .map(|(n, p)| (n, fs::read(p).expect("read")))
                .collect();
            files.retain(|(name, _)| name != runner::output::REPORT_FILE);
            files
        };
        for step in [0u32, 2] {
            let leaf = trace.steps[step as usize];
            let honest = keccak256((B256::from(leaf.output), leaf.flops, 4u32).abi_encode());
            let judged =
                |in_hash: B256| judge::step_run(&pkg, read_all(&pkg), step, leaf.prev, in_hash).expect("judged");
            let Judged::Run(step_run) = judged(B256::from(leaf.input)) else { panic!("a dispatch is re-run") };
            let one = tmp.path().join(format!("step-{step}"));
            exchange::write_all(&one, &step_run.files).expect("write");
            super::spot::run(&paths, &gpu, &one, &tmp.path().join(format!("step-{step}-out"))).expect("re-run");
            let mine = runner::trace::Trace::decode(
                &fs::read(tmp.path().join(format!("step-{step}-out/trace.bin"))).expect("trace"),
            )
            .expect("trace");
            assert_eq!(mine.steps.len(), step as usize + 1, "the dispatches up to the disputed one");
            assert_eq!(step_run.answer(&mine), honest, "step {step}: the juror's answer is the honest defender's");
            let Judged::Run(forged) = judged(B256::repeat_byte(7)) else { panic!("re-run") };
            assert_eq!(forged.answer(&mine), judge::unchecked(), "a leaf that starts elsewhere");
        }
        let past = keccak256((B256::ZERO, 0u64, 4u32).abi_encode());
        assert!(
            matches!(judge::step_run(&pkg, read_all(&pkg), 4, 4, B256::ZERO).expect("judged"), Judged::Answer(a) if a == past)
        );

        let bundle = exchange::bundle(&read_all(&pkg)).expect("bundle");
        let mut result = read_all(&tmp.path().join("out"));
        let check = SpotCheck { paths: paths.clone(), rows: 4, device: None, worker: None };
        let through = |at: u32, result: &[(String, Vec<u8>)]| {
            check.check_through(&bundle, result, &mut |dispatches| {
                assert_eq!(dispatches, 4, "drawn among the job's dispatches");
                at
            })
        };
        assert_eq!(through(0, &result).expect("checks"), SpotOutcome::Agrees { rows: vec![0] });
        assert_eq!(through(3, &result).expect("checks"), SpotOutcome::Agrees { rows: vec![0, 1, 2, 3] });
        // A lie in the third dispatch's state: missed by a draw before it, caught at or after it.
        let at = result.iter().position(|(n, _)| n == runner::trace::TRACE_FILE).expect("trace");
        let mut lied = runner::trace::Trace::decode(&result[at].1).expect("trace");
        lied.steps[2].output = [9; 32];
        result[at].1 = lied.encode();
        assert_eq!(through(1, &result).expect("checks"), SpotOutcome::Agrees { rows: vec![0, 1] });
        assert_eq!(through(2, &result).expect("checks"), SpotOutcome::Differs { row: 2 });
        // A lie in the first dispatch's output in the trace.
        lied.steps[0].output = [9; 32];
        result[at].1 = lied.encode();
        assert_eq!(through(0, &result).expect("checks"), SpotOutcome::Differs { row: 0 });
    }
}

mod peer {
    use super::anvil;

    use alloy::primitives::{Address, B256, U256, Uint, keccak256};
    use gridmint_chain::bindings::Gridmint;
    use gridmint_node::{
        Paths, devnet,
        net::{self, Network},
    };
    use gridmint_peer::exchange::{self, BlobStore};

    /// Registers `net`'s account as a provider with a made-up hardware record.
    async fn register(net: &Network) {
        let units = 10u32;
        let per_unit = net.market.contract().minStakePerUnit().call().await.expect("minStakePerUnit");
        net.market.approve_all(net.address()).await.expect("approve");
        net.market
            .register(keccak256("test device"), 8_192, units, 0, 0xff, per_unit * U256::from(units), Address::ZERO)
            .await
            .expect("register");
    }

    /// A one-row embed result whose files are bound to its trace (a result with a claim).
    fn bound_result(value: f32) -> Vec<(String, Vec<u8>)> {
        use gridmint_runner::{npy, trace};
        let row = [value, -value, 0.5];
        let step = trace::Step { flops: 3, prev: 0, input: [2; 32], output: trace::hash_f32s(&row) };
        vec![
            ("embeddings.npy".to_owned(), npy::f32_matrix(&row, 1, 3)),
            (trace::TRACE_FILE.to_owned(), trace::Trace { steps: vec![step] }.encode()),
        ]
    }

    /// Job data only reaches the replicas drawn, sealed to them, and checks against the chain;
    /// results only come from them, and only when their files hash to the root they are offered
    /// under. The attack: any staked address could claim and so receive the buyer's inputs (and
    /// deliver a result), drawn or not.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn attack_job_data_goes_only_to_the_drawn_replicas_and_results_must_match_their_root() {
        let Some(anvil) = anvil() else { return };
        let scratch = tempfile::tempdir().expect("scratch");
        let chain_paths = Paths::under(&scratch.path().join("chain"));
        let options = devnet::DevnetOptions {
            anvil,
            port: None,
            block_time: None,
            accounts: 4,
            stop_with_thread: false,
            launcher: None,
            confirmations: 0,
            verified_matching: true,
        };
        let chain = devnet::start(&chain_paths, options).await.expect("devnet");
        let node = |account: u32| {
            let net =
                Network::connect(&chain.profile_path, net::dev_account(account).expect("dev key")).expect("connect");
            (net, scratch.path().join(format!("node-{account}")))
        };
        let (buyer, buyer_dir) = node(1);
        let (claimant, claimant_dir) = node(2);
        let (outsider, outsider_dir) = node(3);
        let buyer_peer = buyer.start_peer(&buyer_dir).await.expect("buyer endpoint");
        let claimant_peer = claimant.start_peer(&claimant_dir).await.expect("claimant endpoint");
        let outsider_peer = outsider.start_peer(&outsider_dir).await.expect("outsider endpoint");
        assert_ne!(buyer_peer.id(), claimant_peer.id());
        let key = gridmint_peer::endpoint_key(&net::dev_account(1).expect("key"));
        assert_eq!(key.public(), buyer_peer.id(), "the endpoint id follows the wallet (stable across restarts)");

        let manifest = "kind = \"embed\"\n";
        let package = exchange::bundle(&[("job.toml".into(), manifest.as_bytes().to_vec())]).expect("bundle");
        let data = buyer_peer.local().put(&package).expect("put");
        let now = buyer.now().await.expect("clock");
        let params = Gridmint::JobParams {
            specHash: keccak256(manifest),
            dataRoot: B256::from(*data.as_bytes()),
            dataPeer: B256::from(*buyer_peer.id().as_bytes()),
            requirements: Gridmint::Requirements {
                minMemoryMiB: 0,
                minComputeUnits: 0,
                regionMask: 0,
                workloadClass: 0,
            },
            replicas: 1,
            pricePerUnit: Uint::<96, 2>::from(10u64),
            maxWorkUnits: 5,
            claimDeadline: Uint::<40, 1>::from(now + 8),
            commitDeadline: Uint::<40, 1>::from(now + 1200),
            revealDeadline: Uint::<40, 1>::from(now + 1800),
        };
        buyer.market.approve_all(buyer.address()).await.expect("approve");
        let job_id = buyer.market.post_job(params).await.expect("post").value;
        let posted = buyer.posted_job(job_id).await.expect("logs").expect("posted");

        // Not a claimant: refused, and told why.
        let refused = outsider_peer.fetch_job_data(&posted).await.expect_err("an outsider is refused");
        assert!(refused.to_string().contains("has not claimed"), "{refused}");

        // The job's card (issue #23 point 2): only to an address the market would let claim the
        // job, and only with the manifest the job's spec hash names.
        let card = |manifest: &str| gridmint_protocol::JobCard::new(manifest.to_owned(), [("job.toml", 1u64)]);
        let data_root = B256::from(*data.as_bytes());
        buyer_peer.publish_card(data_root, &card(manifest)).expect("card");
        let unregistered = outsider_peer.fetch_job_card(&posted).await.expect_err("not a provider");
        assert!(unregistered.to_string().contains("may not claim job"), "{unregistered}");
        register(&claimant).await;
        assert_eq!(claimant_peer.fetch_job_card(&posted).await.expect("a provider reads it"), card(manifest));
        // A buyer's card whose manifest is not the job's: the provider will not take its word.
        buyer_peer.publish_card(data_root, &card("kind = \"train\"\n")).expect("card");
        let lying = claimant_peer.fetch_job_card(&posted).await.expect_err("another manifest");
        assert!(lying.to_string().contains("does not hash to the job's spec hash"), "{lying}");
        claimant.market.claim(job_id).await.expect("claim");
        register(&outsider).await;
        outsider.market.claim(job_id).await.expect("a second claim");
        // Claimed, but the draw has not run: nobody gets the inputs yet.
        let early = claimant_peer.fetch_job_data(&posted).await.expect_err("no data before the draw");
        assert!(early.to_string().contains("not drawn yet"), "{early}");
        // Logs asked for a block at a time (as public RPC nodes require, in wider windows) find
        // the same events as one request over the whole chain.
        let narrow = claimant.clone().with_log_window(1);
        let whole = claimant.registered_at(claimant.address()).await.expect("logs");
        assert!(whole.is_some(), "the registration is found");
        assert_eq!(narrow.registered_at(claimant.address()).await.expect("logs"), whole);
        let head = buyer.block_number().await.expect("head");
        let windowed = buyer.clone().with_log_window(2).posted_jobs(0, head).await.expect("logs");
        assert_eq!(windowed.len(), buyer.posted_jobs(0, head).await.expect("logs").len());
        assert_eq!(
            narrow.job_events(job_id).await.expect("events").len(),
            claimant.job_events(job_id).await.expect("events").len()
        );
        // The claim window closes; one of the two is drawn (k = 1).
        // (The chain mines on demand: its clock moves only with a new block.)
        let mut attempts = 0;
        while let Err(e) = buyer.market.select_replicas(job_id).await {
            attempts += 1;
            assert!(attempts < 40, "the draw never ran: {e}");
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            // An empty block, so the chain's clock catches up with the wall clock.
            use alloy::providers::Provider as _;
            let _: serde_json::Value =
                buyer.market.contract().provider().raw_request("evm_mine".into(), ()).await.expect("evm_mine");
        }
        let drawn_first = buyer.market.slot(job_id).await.expect("slot").selected == 1;
        let (claimant_peer, loser_peer) =
            if drawn_first { (claimant_peer, outsider_peer) } else { (outsider_peer, claimant_peer) };
        let not_drawn = loser_peer.fetch_job_data(&posted).await.expect_err("a claimant not drawn is refused");
        assert!(not_drawn.to_string().contains("is not one of job"), "{not_drawn}");
        let (bundle, buyer_key) = claimant_peer.fetch_job_data(&posted).await.expect("the drawn replica gets it");
        assert_eq!(bundle, package, "the data arrives whole, checked against the data root");
        let buyer_signer = net::dev_account(1).expect("key");
        assert_eq!(
            Address::from_public_key(&buyer_key.into()),
            buyer_signer.address(),
            "the offer was signed by the job's buyer"
        );

        // A juror's other source: a replica serves the job's data to the jurors of the job's
        // court game, and to nobody else. It announces its endpoint on chain (once); there is no
        // game here, so a staked claimant asking it is refused, and a claimant that was not
        // drawn has nothing to serve.
        let (replica_net, loser_net) = if drawn_first { (&claimant, &outsider) } else { (&outsider, &claimant) };
        for _ in 0..2 {
            replica_net.announce_peer().await.expect("announce");
        }
        let (replica, loser) = (replica_net.address(), loser_net.address());
        let peers = buyer.market.announced_peers(&[replica, loser], 0).await.expect("announced peers");
        assert_eq!(peers.get(&replica), Some(&B256::from(*claimant_peer.id().as_bytes())), "{peers:?}");
        assert!(!peers.contains_key(&loser), "only what was announced: {peers:?}");
        // Before the replica computed the job it serves nothing, and says so before any lookup
        // on chain; once it did (the agent marks the job), the asker must be a juror.
        let early = loser_peer.fetch_job_data_from_replica(&posted, replica, peers[&replica]).await;
        let early = early.expect_err("nothing computed yet: refused").to_string();
        assert!(early.contains("nor one it computed"), "{early}");
        claimant_peer.computed_job(job_id);
        let refused = loser_peer.fetch_job_data_from_replica(&posted, replica, peers[&replica]).await;
        let refused = refused.expect_err("not a juror: refused").to_string();
        assert!(refused.contains("is no juror"), "{refused}");
        loser_net.announce_peer().await.expect("announce");
        let loser_peer_id = buyer.market.announced_peers(&[loser], 0).await.expect("peers")[&loser];
        let nothing = claimant_peer.fetch_job_data_from_replica(&posted, loser, loser_peer_id).await;
        let nothing = nothing.expect_err("a claimant not drawn serves nothing").to_string();
        assert!(nothing.contains("nor one it computed"), "{nothing}");

        // A result whose files do not hash to the root it is offered under is refused.
        let entries = bound_result(1.0);
        let result = exchange::bundle(&entries).expect("bundle");
        let root = B256::from(exchange::result_root(&entries));
        let sealed = gridmint_peer::seal::seal(&buyer_key, &result);
        let wrong = claimant_peer.deliver_result(&posted, B256::repeat_byte(7), &sealed).await;
        assert!(wrong.expect_err("a mismatched root is refused").to_string().contains("do not hash"));
        // The right steps with a wrong file (a row that is not its step's output) have no claim:
        // refused under the root of the steps (issue #22: the files are bound to the trace).
        let mut unbound = entries.clone();
        unbound[0].1 = gridmint_runner::npy::f32_matrix(&[5.0, -1.0, 0.5], 1, 3);
        let unbound = gridmint_peer::seal::seal(&buyer_key, &exchange::bundle(&unbound).expect("bundle"));
        let refused = claimant_peer.deliver_result(&posted, root, &unbound).await;
        assert!(refused.expect_err("a file not bound to the trace is refused").to_string().contains("do not hash"));
        // Under the one root every unbound set of files hashes to: refused before anything is
        // fetched (it is no result's).
        let unbound_root = B256::from(exchange::unbound_root());
        let no_claim = claimant_peer.deliver_result(&posted, unbound_root, &unbound).await;
        assert!(no_claim.expect_err("the unbound root is refused").to_string().contains("bound to no trace"));
        // Not sealed to the buyer: it cannot open it.
        let foreign = gridmint_peer::seal::seal(&k256::SecretKey::random(&mut rand::rngs::OsRng).public_key(), &result);
        let unopened = claimant_peer.deliver_result(&posted, root, &foreign).await;
        assert!(unopened.expect_err("a blob not sealed to the buyer is refused").to_string().contains("not sealed"));
        // A claimant that was not drawn cannot deliver.
        let sealed_by_loser = gridmint_peer::seal::seal(&buyer_key, &result);
        let intruder = loser_peer.deliver_result(&posted, root, &sealed_by_loser).await;
        assert!(
            intruder.expect_err("a result not from a replica is refused").to_string().contains("is not one of job")
        );
        assert!(buyer_peer.local().resolve(&format!("results/{root:x}")).expect("store").is_none());

        claimant_peer.deliver_result(&posted, root, &sealed).await.expect("the claimant's result is taken");
        let stored = BlobStore::new(buyer_dir.join("blobs")).resolve(&format!("results/{root:x}")).expect("read");
        assert_eq!(stored, Some(result), "the buyer filed the result under its root, in its own data folder");
        let shared = chain.profile_path.parent().expect("profile dir").join("blobs");
        assert!(!shared.exists(), "no folder the nodes share carries data: {}", shared.display());

        // Exhaustion: one result per replica (a replica cannot fill the store or start a spot
        // check per root it makes up) ...
        let other = bound_result(9.0);
        let other_root = B256::from(exchange::result_root(&other));
        let other_sealed = gridmint_peer::seal::seal(&buyer_key, &exchange::bundle(&other).expect("bundle"));
        let second = claimant_peer.deliver_result(&posted, other_root, &other_sealed).await;
        assert!(second.expect_err("a second result is refused").to_string().contains("one result per replica"));
        claimant_peer.deliver_result(&posted, root, &sealed).await.expect("the same result again is fine");
        // ... one sealed copy of the data per replica however often it asks, dropped from the
        // transfer store once the job is forgotten ...
        for _ in 0..3 {
            claimant_peer.fetch_job_data(&posted).await.expect("asked again");
        }
        // (The results fetched above are collected at the next sweep; the data copy is held.)
        tokio::time::sleep(gridmint_peer::endpoint::TRANSFER_GC_INTERVAL * 3).await;
        assert_eq!(buyer_peer.transfer_blobs().await.expect("count"), 1, "one sealed copy for one replica");
        buyer_peer.forget_job(job_id).await;
        tokio::time::sleep(gridmint_peer::endpoint::TRANSFER_GC_INTERVAL * 3).await;
        assert_eq!(buyer_peer.transfer_blobs().await.expect("count"), 0, "collected once the job is forgotten");
        // ... and a request about a job that does not exist is answered from its empty slot.
        let mut unknown = posted.clone();
        unknown.jobId = U256::from(1_000_000u64);
        let none = claimant_peer.fetch_job_data(&unknown).await.expect_err("no such job");
        assert!(none.to_string().contains("no job 1000000"), "{none}");
    }
}

/// A network file names the market the wallet approves payments and stake to: one that names
/// something other than this app's build of the contracts is refused until the owner trusts
/// exactly that code.
mod market_code {
    use super::anvil;

    use gridmint_node::{
        NodeError, Paths, devnet,
        net::{self, Network},
    };

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn attack_a_network_file_naming_another_contract_as_the_market_is_refused() {
        let Some(anvil) = anvil() else { return };
        let scratch = tempfile::tempdir().expect("scratch");
        let options = devnet::DevnetOptions {
            anvil,
            port: None,
            block_time: None,
            accounts: 2,
            stop_with_thread: false,
            launcher: None,
            confirmations: 0,
            verified_matching: true,
        };
        let chain = devnet::start(&Paths::under(&scratch.path().join("chain")), options).await.expect("devnet");
        let key = || net::dev_account(1).expect("dev key");
        let honest = Network::connect(&chain.profile_path, key()).expect("connect");
        honest.check_market_code().await.expect("the local network runs this app's build");

        // The same chain, but the file names the payment token as the market (any contract an
        // attacker deployed would do).
        let mut forged = chain.profile.clone();
        forged.deployment.market = forged.deployment.payment_token;
        let forged_path = scratch.path().join("forged.json");
        forged.save(&forged_path).expect("save");
        let net = Network::connect(&forged_path, key()).expect("connect");
        let fingerprint = match net.check_market_code().await {
            Err(NodeError::UntrustedMarket { fingerprint, market, .. }) => {
                assert_eq!(market, forged.deployment.market);
                fingerprint
            }
            other => panic!("expected UntrustedMarket, got {other:?}"),
        };
        let message = net.check_market_code().await.expect_err("refused").to_string();
        assert!(message.contains("gridmint network trust") && message.contains(&fingerprint.to_string()), "{message}");

        // Trusting another fingerprint changes nothing; trusting this one lets it through.
        forged.trusted_market_code = Some(alloy::primitives::B256::repeat_byte(1));
        forged.save(&forged_path).expect("save");
        assert!(Network::connect(&forged_path, key()).expect("connect").check_market_code().await.is_err());
        forged.trusted_market_code = Some(fingerprint);
        forged.save(&forged_path).expect("save");
        Network::connect(&forged_path, key())
            .expect("connect")
            .check_market_code()
            .await
            .expect("trusted by its owner");
    }
}

mod shards {
    use std::{
        sync::{
            Arc,
            atomic::{AtomicBool, Ordering},
        },
        time::{Duration, Instant},
    };

    use super::anvil;

    use gridmint_node::{
        JobState, Node, Paths,
        buyer::{self, ShardEvent, SubmitOptions},
        devnet,
        net::{self, Network},
        provider::{self, Compute, ProviderOptions},
    };

    #[test]
    fn a_shard_nobody_could_take_in_time_is_posted_again_and_completes() {
        let Some(anvil) = anvil() else { return };
        let scratch = tempfile::tempdir().expect("scratch");
        let models = Paths::discover().map(|p| p.models).unwrap_or_default();
        if !models.join("all-MiniLM-L6-v2/model.safetensors").is_file() {
            assert!(std::env::var("GRIDMINT_REQUIRE_REFERENCE").as_deref() != Ok("1"), "no MiniLM (make setup)");
            eprintln!("SKIPPED: no MiniLM");
            return;
        }
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let options = devnet::DevnetOptions {
            anvil,
            port: None,
            block_time: Some(1),
            accounts: 3,
            stop_with_thread: false,
            launcher: None,
            confirmations: 0,
            verified_matching: true,
        };
        let chain = rt.block_on(devnet::start(&Paths::under(&scratch.path().join("chain")), options)).expect("devnet");

        // The only provider, paused: it takes nothing until the buyer posts a shard again.
        let paused = Arc::new(AtomicBool::new(true));
        let provider = {
            let (profile, paused) = (chain.profile_path.clone(), paused.clone());
            let paths = Paths::under(&scratch.path().join("provider")).with_models(models.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                rt.block_on(async move {
                    let net = Network::connect(&profile, net::dev_account(1)?)?;
                    let gpu = Arc::new(Compute::Here(Node::new(paths.clone()).open_device_slot(None)?));
                    let options = ProviderOptions {
                        price_floor: 0,
                        region: None,
                        exit_after_jobs: Some(2),
                        corrupt_results: None,
                        lie_as_juror: false,
                        jury_duty: true,
                        claim_jobs: true,
                        relay_commitments: true,
                        poll: Duration::from_millis(300),
                        paused: Some(paused),
                        control: None,
                        deadline_margin: Duration::from_secs(20),
                        held: None,
                        memory_share: None,
                        declined: None,
                        current_task: None,
                        device_check: false,
                        memory_mib: None,
                        capacity: provider::Capacity::default(),
                    };
                    provider::serve(&paths, &net, &gpu, &options).await
                })
            })
        };
        let buyer_net = Network::connect(&chain.profile_path, net::dev_account(2).expect("key")).expect("connect");
        let provider_address = net::dev_account(1).expect("key").address();
        let until = Instant::now() + Duration::from_secs(180);
        let registered = || {
            let call = buyer_net.market.contract().providerOf(provider_address);
            rt.block_on(async { call.call().await }).expect("providerOf").status != 0
        };
        while !registered() {
            assert!(!provider.is_finished(), "the provider stopped before registering");
            assert!(Instant::now() < until, "the provider did not register");
            std::thread::sleep(Duration::from_millis(300));
        }

        let pkg = scratch.path().join("job");
        std::fs::create_dir_all(&pkg).expect("package");
        std::fs::write(pkg.join("job.toml"), "kind = \"embed\"\nmodel = \"all-MiniLM-L6-v2\"\ninput = \"s.txt\"\n")
            .expect("manifest");
        let text: String = (0..6).map(|i| format!("Shard sentence {i} for the market.\n")).collect();
        std::fs::write(pkg.join("s.txt"), text).expect("sentences");
        let shards = buyer::shard(&pkg, &scratch.path().join("shards"), 3).expect("shards");
        assert_eq!(shards.len(), 2);
        let dirs: Vec<_> = (0..2).map(|i| scratch.path().join(format!("out-{i}"))).collect();
        let buyer_paths = Paths::under(&scratch.path().join("buyer")).with_models(models);
        let options = SubmitOptions { replicas: 1, claim_window_s: 3, spot_check_rows: 0, ..SubmitOptions::default() };
        let mut events = Vec::new();
        let sharded = rt
            .block_on(buyer::run_shards(&buyer_paths, &buyer_net, &shards, &dirs, &options, &mut |event| {
                if matches!(event, ShardEvent::Reposting { .. }) {
                    paused.store(false, Ordering::SeqCst);
                }
                events.push(event);
            }))
            .expect("the shards end");
        let refunded = events
            .iter()
            .filter(|e| matches!(e, ShardEvent::Ended { outcome, .. } if outcome.state == JobState::Refunded))
            .count();
        let reposted = events.iter().filter(|e| matches!(e, ShardEvent::Reposting { attempt: 2, .. })).count();
        assert_eq!((refunded, reposted), (2, 2), "both first posts refunded, both posted again: {events:?}");
        assert!(sharded.verified(), "the second posts complete: {:?}", sharded.outcomes);
        assert_eq!(sharded.job_ids.len(), 4);
        // The buyer approved each post's escrow and no more: the market (or a contract a network
        // file passes off as one) can pull nothing further from the buyer's wallet.
        let left = rt.block_on(buyer_net.market.payment_allowance(buyer_net.address())).expect("allowance");
        assert_eq!(left, alloy::primitives::U256::ZERO, "an allowance left over after the jobs posted");
        let (rows, cols) = buyer::join_embeddings(&dirs, &scratch.path().join("joined")).expect("join");
        assert_eq!((rows, cols), (6, 384));
        let report = provider.join().expect("the provider thread").expect("the provider served");
        assert_eq!(report.jobs_settled, 2);
        rt.block_on(buyer_net.close_peer());
        drop(chain);
    }
}

mod device_checks {
    use std::{
        sync::Arc,
        time::{Duration, Instant},
    };

    use super::anvil;

    use alloy::{
        primitives::{Address, U256, keccak256},
        providers::{Provider, ext::AnvilApi},
        rpc::types::Filter,
        sol_types::SolEvent,
    };
    use gridmint_chain::bindings::Gridmint;
    use gridmint_node::{
        Node, Paths,
        buyer::{self, SubmitOptions},
        devnet,
        net::{self, Network},
        provider::{self, Compute, ProviderOptions},
    };

    type Declined = Arc<std::sync::Mutex<Vec<gridmint_protocol::DeclinedJob>>>;

    pub(super) fn node_options(device_check: bool, claim_jobs: bool, memory_mib: u32) -> ProviderOptions {
        ProviderOptions {
            price_floor: 0,
            region: None,
            exit_after_jobs: None,
            corrupt_results: None,
            lie_as_juror: false,
            jury_duty: true,
            claim_jobs,
            relay_commitments: true,
            poll: Duration::from_millis(300),
            paused: None,
            control: None,
            deadline_margin: Duration::from_secs(20),
            held: None,
            memory_share: None,
            declined: Some(Declined::default()),
            current_task: None,
            device_check,
            memory_mib: Some(memory_mib),
            capacity: provider::Capacity::default(),
        }
    }

    /// The nodes' logs, should a test fail (RUST_LOG=info shows them).
    pub(super) fn logs() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }

    /// A local network (1-second blocks, verified matching) with `accounts` funded accounts.
    pub(super) fn local_chain(
        rt: &tokio::runtime::Runtime,
        anvil: std::path::PathBuf,
        scratch: &std::path::Path,
        accounts: usize,
    ) -> devnet::Devnet {
        let options = devnet::DevnetOptions {
            anvil,
            port: None,
            block_time: Some(1),
            accounts,
            stop_with_thread: false,
            launcher: None,
            confirmations: 0,
            verified_matching: true,
        };
        rt.block_on(devnet::start(&Paths::under(&scratch.join("chain")), options)).expect("devnet")
    }

    /// Waits (polling every 500 ms) until `done`, failing the test after `seconds` in all.
    pub(super) fn waiter(seconds: u64) -> impl Fn(&str, &dyn Fn() -> bool) {
        let until = Instant::now() + Duration::from_secs(seconds);
        move |what: &str, done: &dyn Fn() -> bool| {
            while !done() {
                assert!(Instant::now() < until, "timed out waiting until {what}");
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }

    /// A provider node on account `account`, in a thread of its own, until the test ends.
    fn start(scratch: &std::path::Path, profile: &std::path::Path, account: u32, options: ProviderOptions) {
        let models = Paths::discover().map(|p| p.models).unwrap_or_default();
        start_with_models(scratch, profile, account, options, models);
    }

    /// [`start`] with the model cache `models`.
    pub(super) fn start_with_models(
        scratch: &std::path::Path,
        profile: &std::path::Path,
        account: u32,
        options: ProviderOptions,
        models: std::path::PathBuf,
    ) {
        let paths = Paths::under(&scratch.join(format!("provider-{account}"))).with_models(models);
        let profile = profile.to_owned();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            let served = rt.block_on(async move {
                let net = Network::connect(&profile, net::dev_account(account)?)?;
                let gpu = Arc::new(Compute::Here(Node::new(paths.clone()).open_device_slot(None)?));
                provider::serve(&paths, &net, &gpu, &options).await
            });
            eprintln!("provider {account} stopped: {served:?}");
        });
    }

    #[test]
    fn an_honest_device_is_verified_by_the_jury_and_one_that_overstates_its_memory_is_not() {
        let Some(anvil) = anvil() else { return };
        logs();
        let scratch = tempfile::tempdir().expect("scratch");
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let chain = local_chain(&rt, anvil, scratch.path(), 6);
        let observer = Network::connect(&chain.profile_path, net::dev_account(6).expect("key")).expect("connect");
        let wait = waiter(420);
        let record = |who: Address| rt.block_on(observer.registration(who)).expect("providerOf");

        // Three jury-only providers enter the pool first.
        for account in 3..=5 {
            start(scratch.path(), &chain.profile_path, account, node_options(false, false, 8));
        }
        let jurors: Vec<Address> = (3..=5).map(|a| net::dev_account(a).expect("key").address()).collect();
        wait("the jurors are in the pool", &|| {
            jurors.iter().all(|j| rt.block_on(observer.market.jury_since(*j)).expect("jurySince") != 0)
        });

        // The liar registers four times its device's memory (llvmpipe offers 2 GiB) before its
        // node starts (which keeps the registration it finds).
        let liar = net::dev_account(2).expect("key");
        let liar_net = Network::connect(&chain.profile_path, liar.clone()).expect("connect");
        rt.block_on(async {
            let stake = U256::from(1_000u64) * U256::from(10u64).pow(U256::from(18u64));
            liar_net.market.approve_stake(liar.address(), stake).await.expect("approve");
            liar_net
                .market
                .register(keccak256("llvmpipe"), 8_192, 20, 0, 1, stake, Address::ZERO)
                .await
                .expect("the liar registers");
        });
        // Both take jobs too: a job that asks for memory must go to the verified one only.
        // 256 MiB offered: enough for the job below; its check fills 230 MiB (3,686 blocks of 128²,
        // seconds on llvmpipe).
        let (honest_options, liar_options) = (node_options(true, true, 256), node_options(true, true, 256));
        let declined = |o: &ProviderOptions| o.declined.as_ref().map(|d| d.lock().expect("lock").clone());
        let seen = (honest_options.clone(), liar_options.clone());
        start(scratch.path(), &chain.profile_path, 1, honest_options);
        start(scratch.path(), &chain.profile_path, 2, liar_options);

        let honest = net::dev_account(1).expect("key").address();
        wait("the honest provider is verified", &|| {
            record(honest).status == gridmint_chain::device_check::STATUS_VERIFIED
        });
        let check = rt.block_on(observer.market.device_check(honest)).expect("deviceCheckOf");
        assert_eq!(check.seedBlock, 0, "its check is closed");
        assert!(check.dueAt.to::<u64>() > 0, "its next check is due some time");
        let rep = rt.block_on(observer.market.reputation(honest)).expect("reputation");
        assert_eq!((rep.slashed, rep.missed), (0, 0));

        // The liar's check is open and unanswered: its device refuses a fill of 7.2 GiB.
        let open = rt.block_on(observer.market.device_check(liar.address())).expect("deviceCheckOf");
        assert!(open.seedBlock != 0 && open.root.is_zero(), "the liar's check is open and unanswered: {open:?}");
        // Its deadline is minutes away at its declared rate: the local chain's clock moves there.
        let left = open.deadline.to::<u64>().saturating_sub(rt.block_on(observer.now()).expect("now")) + 5;
        rt.block_on(observer.market.contract().provider().anvil_increase_time(left)).expect("warp");
        wait("the liar's check is closed", &|| {
            rt.block_on(observer.market.device_check(liar.address())).expect("deviceCheckOf").seedBlock == 0
        });
        let after = record(liar.address());
        assert_eq!(after.status, gridmint_chain::device_check::STATUS_ACTIVE, "the liar is not verified");
        assert_eq!(rt.block_on(observer.market.reputation(liar.address())).expect("reputation").missed, 1);

        // A verified figure is challenged again at a random time: once the next check is due (the
        // local chain's clock moves there), a pool member opens it, not the provider; the provider
        // answers on its device and the jury passes it again.
        let anvil_api = observer.market.contract().provider().clone();
        let due = check.dueAt.to::<u64>();
        let now = rt.block_on(observer.now()).expect("now");
        rt.block_on(anvil_api.anvil_increase_time(due.saturating_sub(now) + 5)).expect("warp to the due time");
        wait("a pool member opens the verified provider's next check", &|| {
            rt.block_on(observer.market.device_check(honest)).expect("deviceCheckOf").seedBlock != 0
        });
        let opener = rt.block_on(async {
            let filter = Filter::new()
                .address(observer.profile.deployment.market)
                .event_signature(Gridmint::DeviceCheckOpened::SIGNATURE_HASH)
                .from_block(0);
            let logs = anvil_api.get_logs(&filter).await.expect("logs");
            let last = logs
                .iter()
                .rev()
                .find(|l| l.log_decode::<Gridmint::DeviceCheckOpened>().is_ok_and(|e| e.inner.data.provider == honest))
                .expect("the re-check's event");
            let hash = last.transaction_hash.expect("its transaction");
            anvil_api.get_transaction_receipt(hash).await.expect("receipt").expect("mined").from
        });
        let member = rt.block_on(observer.market.jury_since(opener)).expect("jurySince") != 0;
        assert!(opener != honest && member, "a pool member opened it, not the provider: {opener}");
        wait("the provider answers its re-check", &|| {
            !rt.block_on(observer.market.device_check(honest)).expect("deviceCheckOf").root.is_zero()
        });
        let case = gridmint_chain::device_check::check_case(honest);
        let seats = rt.block_on(async { observer.market.contract().jurySize().call().await }).expect("jurySize");
        wait("most of the re-check's jury seats are taken", &|| {
            let g = rt.block_on(observer.market.dispute(case)).expect("disputeOf");
            u32::from(g.jury.takenSeats).count_ones() * 2 > u32::from(seats)
        });
        // The jurors' window is minutes at the declared rate: the clock moves past it.
        let g = rt.block_on(observer.market.dispute(case)).expect("disputeOf");
        let now = rt.block_on(observer.now()).expect("now");
        rt.block_on(anvil_api.anvil_increase_time(g.deadline.to::<u64>().saturating_sub(now) + 2)).expect("warp");
        wait("the re-check is closed", &|| {
            rt.block_on(observer.market.device_check(honest)).expect("deviceCheckOf").seedBlock == 0
        });
        assert_eq!(record(honest).status, gridmint_chain::device_check::STATUS_VERIFIED, "verified again");
        let next = rt.block_on(observer.market.device_check(honest)).expect("deviceCheckOf").dueAt.to::<u64>();
        assert!(next > due, "its next check is due later again: {next} after {due}");
        let rep = rt.block_on(observer.market.reputation(honest)).expect("reputation");
        assert_eq!((rep.slashed, rep.missed), (0, 0), "the re-check cost it nothing");

        // This network matches on verified figures: a job that asks for 128 MiB goes to the
        // verified provider, never to the liar, whatever memory it registered.
        let models = Paths::discover().map(|p| p.models).unwrap_or_default();
        if !models.join("all-MiniLM-L6-v2/model.safetensors").is_file() {
            assert!(std::env::var("GRIDMINT_REQUIRE_REFERENCE").as_deref() != Ok("1"), "no MiniLM (make setup)");
            eprintln!("SKIPPED the job: no MiniLM");
            return;
        }
        let matching = observer.market.contract().verifiedMatching();
        assert!(rt.block_on(async { matching.call().await }).expect("verifiedMatching"), "a network with a jury");
        let pkg = scratch.path().join("job");
        std::fs::create_dir_all(&pkg).expect("package");
        std::fs::write(pkg.join("job.toml"), "kind = \"embed\"\nmodel = \"all-MiniLM-L6-v2\"\ninput = \"s.txt\"\n")
            .expect("manifest");
        std::fs::write(pkg.join("s.txt"), "A verified device computes this.\nAnd this.\n").expect("sentences");
        let buyer_paths = Paths::under(&scratch.path().join("buyer")).with_models(models);
        let submit = SubmitOptions {
            replicas: 1,
            claim_window_s: 5,
            spot_check_rows: 0,
            min_memory_mib: 128,
            ..SubmitOptions::default()
        };
        let outcome = rt.block_on(async {
            buyer::start_buyer_peer(&buyer_paths, &observer, 0, None).await.expect("the buyer's endpoint");
            let posted = buyer::submit(&buyer_paths, &observer, &pkg, &submit).await.expect("posts");
            buyer::wait_and_fetch(&observer, posted.job_id, Some(&scratch.path().join("out")), submit.poll)
                .await
                .expect("the job ends")
        });
        assert!(
            outcome.verified,
            "{outcome:?}; declined by the honest provider: {:?}, by the liar: {:?}; the job's events: {:?}",
            declined(&seen.0),
            declined(&seen.1),
            rt.block_on(observer.job_events(outcome.job_id))
        );
        let liar_declined = declined(&seen.1).unwrap_or_default();
        assert!(
            liar_declined.iter().any(|d| d.reason.contains("not verified")),
            "the liar's node says why it left the job: {liar_declined:?}"
        );
        let claimants = rt.block_on(observer.market.trail(outcome.job_id)).expect("trail").claimants;
        assert_eq!(claimants, vec![honest], "only the verified provider claimed the job");
        rt.block_on(observer.close_peer());
        drop(chain);
    }
}

mod claims {
    use std::time::Duration;

    use super::{
        anvil,
        device_checks::{local_chain, logs, node_options, start_with_models, waiter},
    };

    use gridmint_node::{
        JobState, Paths,
        buyer::{self, SubmitOptions},
        net::{self, Network},
    };

    /// Issue #23 point 2. A provider reads a job's card before it claims: one without the job's
    /// model declines it (saying which model) and never claims, while one with it runs it. And a
    /// claim the provider cannot honour is withdrawn unslashed: when the buyer stops serving the
    /// data after the claim (the attack: post, let providers claim, withhold the data so they miss
    /// the deadline and are slashed), the replica asks again while the job could still be
    /// computed in time, then leaves it; the job is refunded and the replica's stake is whole.
    #[test]
    fn a_provider_claims_only_a_job_it_can_run_and_leaves_one_whose_data_never_comes() {
        let Some(anvil) = anvil() else { return };
        logs();
        let models = Paths::discover().map(|p| p.models).unwrap_or_default();
        if !models.join("all-MiniLM-L6-v2/model.safetensors").is_file() {
            assert!(std::env::var("GRIDMINT_REQUIRE_REFERENCE").as_deref() != Ok("1"), "no MiniLM (make setup)");
            eprintln!("SKIPPED: no MiniLM");
            return;
        }
        let scratch = tempfile::tempdir().expect("scratch");
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let chain = local_chain(&rt, anvil, scratch.path(), 3);
        let buyer_net = Network::connect(&chain.profile_path, net::dev_account(3).expect("key")).expect("connect");
        let wait = waiter(300);
        let (with_model, without_model) = (node_options(false, true, 256), node_options(false, true, 256));
        let declined_by_the_other = without_model.declined.clone().expect("a list");
        let empty_cache = scratch.path().join("no-models");
        std::fs::create_dir_all(&empty_cache).expect("an empty model cache");
        start_with_models(scratch.path(), &chain.profile_path, 1, with_model, models.clone());
        start_with_models(scratch.path(), &chain.profile_path, 2, without_model, empty_cache);
        let (able, unable) = (net::dev_account(1).expect("key").address(), net::dev_account(2).expect("key").address());
        let record = |who| rt.block_on(buyer_net.registration(who)).expect("providerOf");
        wait("both providers registered", &|| record(able).status != 0 && record(unable).status != 0);

        let package = |name: &str, text: &str| {
            let pkg = scratch.path().join(name);
            std::fs::create_dir_all(&pkg).expect("package");
            std::fs::write(pkg.join("job.toml"), "kind = \"embed\"\nmodel = \"all-MiniLM-L6-v2\"\ninput = \"s.txt\"\n")
                .expect("manifest");
            std::fs::write(pkg.join("s.txt"), text).expect("sentences");
            pkg
        };
        let buyer_paths = Paths::under(&scratch.path().join("buyer")).with_models(models);
        let submit = SubmitOptions { replicas: 1, claim_window_s: 8, spot_check_rows: 0, ..SubmitOptions::default() };
        let first = rt.block_on(async {
            let posted = buyer::submit(&buyer_paths, &buyer_net, &package("first", "A model at hand.\n"), &submit)
                .await
                .expect("posts");
            buyer::wait_and_fetch(&buyer_net, posted.job_id, Some(&scratch.path().join("out")), submit.poll)
                .await
                .expect("the job ends")
        });
        let declined = || declined_by_the_other.lock().expect("lock").clone();
        assert!(first.verified, "{first:?}; declined by the node without the model: {:?}", declined());
        let claimants = rt.block_on(buyer_net.market.trail(first.job_id)).expect("trail").claimants;
        assert_eq!(claimants, vec![able], "only the provider with the model claimed");
        let reason = declined()
            .into_iter()
            .find(|d| d.job_id == net::job_id(first.job_id))
            .map(|d| d.reason)
            .unwrap_or_default();
        assert!(
            reason.contains("model all-MiniLM-L6-v2") && reason.contains("model cache"),
            "the node without the model says so: {:?}",
            declined()
        );

        // The second job: the buyer's endpoint goes away once the provider claimed.
        let stake_before = record(able).stake;
        let second = SubmitOptions { commit_window_s: Some(60), ..submit.clone() };
        let posted = rt
            .block_on(buyer::submit(&buyer_paths, &buyer_net, &package("second", "Data never served.\n"), &second))
            .expect("posts");
        wait("the provider claimed the second job", &|| {
            rt.block_on(buyer_net.market.trail(posted.job_id)).expect("trail").claimants.contains(&able)
        });
        rt.block_on(buyer_net.close_peer());
        let ended = rt
            .block_on(buyer::wait_and_fetch(&buyer_net, posted.job_id, None, Duration::from_millis(500)))
            .expect("the job ends");
        assert_eq!(ended.state, JobState::Refunded, "{:?}", rt.block_on(buyer_net.job_events(posted.job_id)));
        let after = record(able);
        assert_eq!((after.stake, after.slashes), (stake_before, 0), "the replica that left is not slashed");
        let call = buyer_net.market.contract().reputationOf(able);
        let left = rt.block_on(async { call.call().await }).expect("reputationOf");
        assert_eq!(left.left, 1, "its record counts the job it left");
        drop(chain);
    }
}
