//! Integration tests of the node library against real parts.
//!
//! Module map:
//! - `wallet`: keys in the real Secret Service (gnome-keyring in a dbus session; `make test` runs
//!   the suite under scripts/with-keyring.sh). Skips without one unless GRIDMINT_REQUIRE_KEYRING=1.
//! - `runner`: job packages on the real engine (llvmpipe in CI): MiniLM embeddings against
//!   sentence-transformers, digits training to 95% with repeatable checkpoint hashes, zip packages,
//!   and every kind of bad input leaving nothing in the output folder. Parts that need the model
//!   cache or Python's reference packages skip without them unless GRIDMINT_REQUIRE_REFERENCE=1.
//! - `local`: the app's embedded local network (anvil, contracts, this machine as provider): a
//!   bad package is refused before anything is posted, a good one is verified and pays the
//!   provider. Needs anvil (GRIDMINT_REQUIRE_CHAIN=1 makes its absence a failure) and MiniLM.
//! - `peer`: job data between real iroh endpoints on a real anvil: only claimants get a job's data,
//!   sealed to them; only claimants deliver results, sealed to the buyer and matching their root.
//! - `shards`: a sharded embedding job whose shards nobody could take in time (the only provider
//!   is paused) is refunded, posted again by the buyer, and completes on the provider (in-process,
//!   on llvmpipe, on a real anvil).

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

mod runner {
    use std::{
        fs,
        path::{Path, PathBuf},
        process::Command,
    };

    use gpu_engine::{DeviceChoice, Gpu, GpuOptions, Vulkan};
    use gridmint_node::{Paths, runner};
    use gridmint_protocol::RunReport;

    fn required(what: &str) -> bool {
        let var = if what == "vulkan" { "GRIDMINT_REQUIRE_VULKAN" } else { "GRIDMINT_REQUIRE_REFERENCE" };
        std::env::var(var).as_deref() == Ok("1")
    }

    fn gpu() -> Option<Gpu> {
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
    fn paths(scratch: &Path) -> Paths {
        let paths = Paths::under(scratch);
        match Paths::discover() {
            Some(real) => paths.with_models(real.models),
            None => paths,
        }
    }

    fn minilm(paths: &Paths) -> Option<PathBuf> {
        let dir = paths.model("all-MiniLM-L6-v2");
        if dir.join("model.safetensors").is_file() {
            return Some(dir);
        }
        assert!(!required("reference"), "GRIDMINT_REQUIRE_REFERENCE=1 but {} has no model (make setup)", dir.display());
        eprintln!("SKIPPED: no all-MiniLM-L6-v2 in {}", dir.display());
        None
    }

    /// Runs a reference script; None (a skip) when Python lacks its packages, unless required.
    fn python(script: &str, args: &[&str]) -> Option<String> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/reference").join(script);
        let out = Command::new("python3").arg(&path).args(args).output().expect("python3 runs");
        if out.status.success() {
            return Some(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!required("reference"), "GRIDMINT_REQUIRE_REFERENCE=1 but {script} failed: {stderr}");
        eprintln!("SKIPPED: {script} failed (pip install sentence-transformers scikit-learn): {stderr}");
        None
    }

    fn package(dir: &Path, manifest: &str, files: &[(&str, &[u8])]) -> PathBuf {
        fs::create_dir_all(dir).expect("package folder");
        fs::write(dir.join("job.toml"), manifest).expect("manifest");
        for (name, bytes) in files {
            fs::write(dir.join(name), bytes).expect("package file");
        }
        dir.to_owned()
    }

    fn run(paths: &Paths, gpu: &Gpu, package: &Path, out: &Path) -> Result<RunReport, runner::JobError> {
        runner::run(paths, gpu, package, out, &mut |_| {})
    }

    /// Reads a `[n, d]` float32 .npy as written by numpy.save or by the runner.
    fn npy(path: &Path) -> (Vec<f32>, usize, usize) {
        let bytes = fs::read(path).expect("npy");
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).expect("ascii header");
        assert!(header.contains("'descr': '<f4'") && header.contains("'fortran_order': False"), "{header}");
        let shape = &header[header.find("'shape': (").expect("shape") + 10..];
        let dims: Vec<usize> =
            shape[..shape.find(')').expect(")")].split(',').filter_map(|d| d.trim().parse().ok()).collect();
        let values =
            bytes[10 + header_len..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        (values, dims[0], dims[1])
    }

    fn sentences() -> String {
        let long = "Verifiable compute means that every provider who runs the same job gets the same bits, so \
                    results can be compared by hash and a cheater is caught. "
            .repeat(12);
        [
            "Hello world",
            "The quick brown fox jumps over the lazy dog.",
            "GPU",
            "embeddings",
            "Grüße aus München, wie geht es dir heute?",
            "Ceci n'est pas une pipe.",
            "東京は日本の首都です。",
            "Москва — столица России.",
            "مرحبا بالعالم",
            "🚀🔥🎉",
            "I love pizza 🍕 and sushi 🍣!",
            "A sentence with    odd   spacing\tand a tab.",
            long.trim(),
            "Short again.",
        ]
        .join("\n")
            + "\n"
    }

    #[test]
    fn embeddings_match_sentence_transformers_and_ignore_batching() {
        let Some(gpu) = gpu() else { return };
        let tmp = tempfile::tempdir().expect("tmp");
        let paths = paths(tmp.path());
        let Some(model_dir) = minilm(&paths) else { return };
        let text = sentences();
        let manifest = "kind = \"embed\"\nmodel = \"all-MiniLM-L6-v2\"\ninput = \"sentences.txt\"\n";
        let pkg = package(&tmp.path().join("pkg"), manifest, &[("sentences.txt", text.as_bytes())]);
        let report = run(&paths, &gpu, &pkg, &tmp.path().join("out")).expect("embed job runs");
        let n = text.lines().count();
        assert_eq!(report.items, n as u64);
        assert!(report.work_units > 0);
        let (got, rows, dim) = npy(&tmp.path().join("out/embeddings.npy"));
        assert_eq!((rows, dim), (n, 384));

        // One sentence per batch: the same file, byte for byte.
        let one =
            "kind = \"embed\"\nmodel = \"all-MiniLM-L6-v2\"\ninput = \"sentences.txt\"\n[embed]\nbatch_tokens = 1\n";
        let pkg1 = package(&tmp.path().join("pkg1"), one, &[("sentences.txt", text.as_bytes())]);
        run(&paths, &gpu, &pkg1, &tmp.path().join("out1")).expect("one per batch");
        assert_eq!(
            fs::read(tmp.path().join("out/embeddings.npy")).expect("a"),
            fs::read(tmp.path().join("out1/embeddings.npy")).expect("b"),
            "batch composition changed the bits"
        );

        let reference = tmp.path().join("reference.npy");
        let model = model_dir.to_string_lossy().into_owned();
        let input = pkg.join("sentences.txt").to_string_lossy().into_owned();
        if python("embed.py", &[&model, &input, &reference.to_string_lossy()]).is_none() {
            return;
        }
        let (want, want_rows, want_dim) = npy(&reference);
        assert_eq!((want_rows, want_dim), (n, 384));
        for r in 0..n {
            let (g, w) = (&got[r * 384..(r + 1) * 384], &want[r * 384..(r + 1) * 384]);
            let dot: f64 = g.iter().zip(w).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
            let norm = |x: &[f32]| x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>().sqrt();
            let cosine = dot / (norm(g) * norm(w));
            assert!(cosine >= 0.9999, "sentence {} ({:?}): cosine {cosine}", r + 1, text.lines().nth(r));
        }
    }

    const DIGITS_JOB: &str = "kind = \"train\"\ndata = \"train.csv\"\ntest = \"test.csv\"\n\n[train]\nhidden = [64]\n\
                              activation = \"relu\"\nlearning_rate = 0.05\nmomentum = 0.9\nepochs = 12\nbatch_size = 32\nseed = 7\n";

    #[test]
    fn digits_training_reaches_95_percent_and_repeats_bit_for_bit() {
        let Some(gpu) = gpu() else { return };
        let tmp = tempfile::tempdir().expect("tmp");
        let paths = paths(tmp.path());
        let pkg = tmp.path().join("digits");
        if python("digits_csv.py", &[&pkg.to_string_lossy()]).is_none() {
            return;
        }
        package(&pkg, DIGITS_JOB, &[]);
        let first = run(&paths, &gpu, &pkg, &tmp.path().join("a")).expect("trains");
        let second = run(&paths, &gpu, &pkg, &tmp.path().join("b")).expect("trains again");
        assert_eq!(first.items, 1437);
        let metrics: serde_json::Value =
            serde_json::from_slice(&fs::read(tmp.path().join("a/metrics.json")).expect("metrics")).expect("json");
        let epochs = metrics["epochs"].as_array().expect("epochs");
        assert_eq!(epochs.len(), 12);
        let last = &epochs[11];
        assert!(last["testAccuracy"].as_f64().expect("test accuracy") >= 0.95, "{last}");
        assert!(last["loss"].as_f64() < epochs[0]["loss"].as_f64(), "the loss fell");
        let chain = |dir: &str| fs::read(tmp.path().join(dir).join("checkpoints.json")).expect("chain");
        assert_eq!(chain("a"), chain("b"), "two runs, the same checkpoint hashes");
        assert_eq!(first.result_root, second.result_root);
        let checkpoints: serde_json::Value = serde_json::from_slice(&chain("a")).expect("json");
        let hashes: Vec<&str> =
            checkpoints.as_array().expect("list").iter().map(|c| c["blake3"].as_str().expect("hash")).collect();
        assert_eq!(hashes.len(), 12);
        assert!(hashes.windows(2).all(|w| w[0] != w[1]), "every epoch changed the weights");
        let last_file = fs::read(tmp.path().join("a/checkpoints/epoch-012.safetensors")).expect("last checkpoint");
        assert_eq!(last_file, fs::read(tmp.path().join("a/model.safetensors")).expect("model"));
    }

    #[test]
    fn zip_packages_run_like_folders() {
        let Some(gpu) = gpu() else { return };
        let tmp = tempfile::tempdir().expect("tmp");
        let paths = paths(tmp.path());
        let rows: String = (0..60).map(|i| format!("{},{},{}\n", i % 3, (i * 7) % 5, i % 2)).collect();
        let job = "kind = \"train\"\ndata = \"data/train.csv\"\n[train]\nhidden = [4]\nlearning_rate = 0.1\nepochs = 2\nbatch_size = 8\n";
        let folder = package(&tmp.path().join("job"), job, &[]);
        fs::create_dir_all(folder.join("data")).expect("data dir");
        fs::write(folder.join("data/train.csv"), &rows).expect("csv");
        let zipped = tmp.path().join("job.zip");
        let status = Command::new("zip").current_dir(tmp.path()).args(["-qr", "job.zip", "job"]).status();
        if !status.is_ok_and(|s| s.success()) {
            panic!("the `zip` tool is needed by this test (make setup installs it)");
        }
        let a = run(&paths, &gpu, &folder, &tmp.path().join("out-folder")).expect("folder");
        let b = run(&paths, &gpu, &zipped, &tmp.path().join("out-zip")).expect("zip");
        assert_eq!(a.result_root, b.result_root);
    }

    /// The buyer's spot check of a training result re-runs its first epoch: a true result
    /// agrees, one whose first checkpoint was changed by one bit does not.
    #[test]
    fn a_training_spot_check_reruns_the_first_epoch() {
        use gridmint_node::{
            exchange,
            spot::{SpotCheck, SpotOutcome},
        };
        if gpu().is_none() {
            return;
        }
        let tmp = tempfile::tempdir().expect("tmp");
        let paths = paths(tmp.path());
        let rows: String = (0..48).map(|i| format!("{},{},{}\n", i % 3, (i * 5) % 7, i % 2)).collect();
        let job = "kind = \"train\"\ndata = \"d.csv\"\n[train]\nhidden = [4]\nlearning_rate = 0.1\nepochs = 3\nbatch_size = 8\n";
        let folder = package(&tmp.path().join("job"), job, &[("d.csv", rows.as_bytes())]);
        let gpu = gpu().expect("checked");
        run(&paths, &gpu, &folder, &tmp.path().join("out")).expect("the job runs");
        let read_all = |dir: &Path| -> Vec<(String, Vec<u8>)> {
            exchange::files(dir).expect("files").into_iter().map(|(n, p)| (n, fs::read(p).expect("read"))).collect()
        };
        let bundle = exchange::bundle(&read_all(&folder)).expect("bundle");
        let mut result = read_all(&tmp.path().join("out"));
        let check = SpotCheck { paths: paths.clone(), rows: 4, device: None, worker: None };
        assert_eq!(check.check(&bundle, &result).expect("checks"), SpotOutcome::Agrees { rows: vec![0] });
        let first = result.iter_mut().find(|(n, _)| n == "checkpoints/epoch-001.safetensors").expect("epoch 1");
        let last = first.1.len() - 1;
        first.1[last] ^= 1;
        assert_eq!(check.check(&bundle, &result).expect("checks"), SpotOutcome::Differs { row: 0 });
    }

    /// Runs a bad package and checks the message and that nothing was written.
    fn refused(paths: &Paths, gpu: &Gpu, pkg: &Path, want: &str) {
        let out = pkg.with_extension("out");
        let err = run(paths, gpu, pkg, &out).expect_err(want).to_string();
        assert!(err.contains(want), "expected `{want}` in: {err}");
        assert!(!out.exists(), "{} was created by a failed run", out.display());
        let parent = out.parent().expect("parent");
        let leftovers: Vec<_> = fs::read_dir(parent)
            .expect("list")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".partial-"))
            .collect();
        assert!(leftovers.is_empty(), "staging left behind: {leftovers:?}");
    }

    #[test]
    fn bad_inputs_are_clear_errors_and_leave_no_output() {
        let Some(gpu) = gpu() else { return };
        let tmp = tempfile::tempdir().expect("tmp");
        let paths = paths(tmp.path());
        let embed = "kind = \"embed\"\nmodel = \"tiny\"\ninput = \"s.txt\"\n";
        // A model folder in the package, so these run without the model cache.
        let with_model = |name: &str, text: &[u8]| {
            let pkg = package(&tmp.path().join(name), embed, &[("s.txt", text)]);
            fs::create_dir_all(pkg.join("tiny")).expect("model dir");
            fs::write(pkg.join("tiny/config.json"), TINY_CONFIG).expect("config");
            fs::write(pkg.join("tiny/tokenizer.json"), "{}").expect("tokenizer");
            pkg
        };
        refused(&paths, &gpu, &with_model("empty", b""), "s.txt: has no sentences");
        refused(&paths, &gpu, &with_model("blank", b"one\n\nthree\n"), "s.txt: line 2 is empty");
        refused(&paths, &gpu, &with_model("utf8", b"ok\n\xc3\x28 bad\n"), "s.txt: line 2: invalid UTF-8 at byte 3");
        refused(&paths, &gpu, &with_model("nomodel", b"hi\n"), "model.safetensors is missing");
        let shapes = with_model("shapes", b"hi\n");
        let mut tensors = std::collections::BTreeMap::new();
        tensors.insert("embeddings.LayerNorm.weight".to_owned(), (vec![7], vec![1.0f32; 7]));
        let bytes = gpu_engine::workloads::tensors::to_bytes(&tensors).expect("bytes");
        fs::write(shapes.join("tiny/model.safetensors"), bytes).expect("weights");
        refused(&paths, &gpu, &shapes, "tensor `embeddings.LayerNorm.weight`: shape is [7], expected [8]");
        let missing = package(&tmp.path().join("missing"), "kind = \"embed\"\ninput = \"s.txt\"\n", &[]);
        refused(&paths, &gpu, &missing, "`model` is required for kind = \"embed\"");
        let escape =
            package(&tmp.path().join("escape"), "kind = \"embed\"\nmodel = \"x\"\ninput = \"../s.txt\"\n", &[]);
        refused(&paths, &gpu, &escape, "must be a relative path inside the package");
        let unknown = package(&tmp.path().join("unknown"), "kind = \"mine\"\n", &[]);
        refused(&paths, &gpu, &unknown, "unknown variant `mine`");

        let train = "kind = \"train\"\ndata = \"d.csv\"\n[train]\nhidden = [4]\nlearning_rate = 0.1\nepochs = 1\nbatch_size = 4\nclasses = 2\n";
        let csv = |name: &str, text: &str| package(&tmp.path().join(name), train, &[("d.csv", text.as_bytes())]);
        refused(&paths, &gpu, &csv("ragged", "1,2,0\n3,1\n"), "d.csv: row 2 has 2 columns, expected 3");
        refused(
            &paths,
            &gpu,
            &csv("cell", "a,b,y\n1,2,0\n3,x,1\n"),
            "d.csv: row 3, column 2: `x` is not a finite number",
        );
        refused(&paths, &gpu, &csv("label", "1,2,0\n3,4,2\n"), "label 2, out of range for 2 classes");
        refused(&paths, &gpu, &csv("nodata", "a,b,y\n"), "d.csv: has no data rows");

        // A non-empty output folder is never overwritten.
        let ok = csv("ok", "1,2,0\n3,4,1\n");
        let out = tmp.path().join("busy");
        fs::create_dir_all(&out).expect("busy");
        fs::write(out.join("keep.txt"), "mine").expect("file");
        let err = run(&paths, &gpu, &ok, &out).expect_err("busy").to_string();
        assert!(err.contains("is not empty"), "{err}");
        assert_eq!(fs::read_to_string(out.join("keep.txt")).expect("kept"), "mine");
    }

    const TINY_CONFIG: &str = r#"{"vocab_size": 20, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
        "intermediate_size": 16, "max_position_embeddings": 16, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
        "hidden_act": "gelu"}"#;
}

mod local {
    use std::{
        path::PathBuf,
        time::{Duration, Instant},
    };

    use gridmint_node::{
        Paths,
        local::{LocalMarket, LocalMarketOptions},
    };
    use gridmint_protocol::{
        EarningsPeriod, ErrorCode, InspectPackageRequest, JobStage, JobStatus, NetworkPhase, SubmitJobRequest,
    };

    /// The bundled anvil, or a skip (a failure under GRIDMINT_REQUIRE_CHAIN=1).
    pub(super) fn anvil() -> Option<PathBuf> {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
        if p.is_file() {
            return Some(p);
        }
        assert!(std::env::var("GRIDMINT_REQUIRE_CHAIN").as_deref() != Ok("1"), "GRIDMINT_REQUIRE_CHAIN=1 but no anvil");
        eprintln!("SKIPPED: no anvil");
        None
    }

    #[test]
    fn a_dropped_package_is_checked_posted_verified_and_pays_the_provider_unless_paused() {
        let Some(anvil) = anvil() else { return };
        let scratch = tempfile::tempdir().expect("scratch dir");
        let mut paths = Paths::under(scratch.path());
        if let Some(real) = Paths::discover() {
            paths = paths.with_models(real.models);
        }
        if !paths.model("all-MiniLM-L6-v2").join("model.safetensors").is_file() {
            assert!(std::env::var("GRIDMINT_REQUIRE_REFERENCE").as_deref() != Ok("1"), "no MiniLM (make setup)");
            eprintln!("SKIPPED: no MiniLM");
            return;
        }
        let market = LocalMarket::start(
            paths,
            LocalMarketOptions {
                anvil,
                block_time_s: 1,
                claim_window_s: 6,
                price_floor: Some(0),
                device: None,
                network: Default::default(),
                worker: None,
            },
        );

        // A bad package is refused at once, naming the problem, before the network is even needed.
        let bad = scratch.path().join("bad");
        std::fs::create_dir_all(&bad).expect("bad package dir");
        std::fs::write(
            bad.join("job.toml"),
            "kind = \"embed\"\nmodel = \"all-MiniLM-L6-v2\"\ninput = \"missing.txt\"\n",
        )
        .expect("write job.toml");
        let request = InspectPackageRequest { path: bad.display().to_string(), replicas: 1, price_per_unit: 1 };
        let err = market.inspect(&request).expect_err("a package naming a missing file is refused");
        assert_eq!(err.to_api().code, ErrorCode::InvalidInput, "{err}");
        assert!(err.to_string().contains("missing.txt"), "the error names the file: {err}");

        let deadline = Instant::now() + Duration::from_secs(240);
        let standing = loop {
            let status = market.status();
            match status.phase {
                NetworkPhase::Ready => break status.provider.expect("a ready network reports the provider"),
                NetworkPhase::Failed { message } => panic!("the local network failed: {message}"),
                NetworkPhase::Starting => {
                    assert!(Instant::now() < deadline, "the local network was not ready in 240 s");
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        };
        assert!(standing.registered, "this machine registered and staked: {standing:?}");
        let earned_before: f64 = standing.withdrawable_usd.parse().expect("a decimal amount");

        let good = scratch.path().join("good");
        std::fs::create_dir_all(&good).expect("package dir");
        std::fs::write(good.join("job.toml"), "kind = \"embed\"\nmodel = \"all-MiniLM-L6-v2\"\ninput = \"s.txt\"\n")
            .expect("write job.toml");
        std::fs::write(good.join("s.txt"), "The market verifies results.\nGPUs earn by the hour.\n").expect("input");
        let preview = market
            .inspect(&InspectPackageRequest { path: good.display().to_string(), replicas: 1, price_per_unit: 1000 })
            .expect("a good package previews");
        assert_eq!(preview.kind, "embed");
        assert!(preview.work_units >= 1 && preview.cost_usd.is_some(), "{preview:?}");

        let too_many = SubmitJobRequest {
            path: good.display().to_string(),
            replicas: 3,
            price_per_unit: 1000,
            ..Default::default()
        };
        let err = market.submit(&too_many).expect_err("3 replicas on a 1-provider network are refused");
        assert_eq!(err.to_api().code, ErrorCode::InvalidInput);
        assert!(market.jobs().is_empty(), "a refused job is not listed");

        let stages = std::cell::RefCell::new(Vec::new());
        // The most the provider's pending earnings showed while a job ran.
        let pending_seen = std::cell::Cell::new(0.0f64);
        // What the dashboard showed of the agent's current task while a job ran.
        let tasks_seen = std::cell::RefCell::new(Vec::new());
        let settle = |local_id: u64| {
            let deadline = Instant::now() + Duration::from_secs(240);
            stages.borrow_mut().clear();
            loop {
                let job = market.jobs().into_iter().find(|j| j.local_id == local_id).expect("the job is listed");
                if stages.borrow().last() != Some(&job.stage) {
                    stages.borrow_mut().push(job.stage);
                }
                if let Some(task) = market.status().provider.and_then(|p| p.current_task) {
                    tasks_seen.borrow_mut().push(task);
                }
                if matches!(job.stage, JobStage::Running | JobStage::Verifying) {
                    let pending = market.earnings(EarningsPeriod::Day).map(|e| e.pending_usd.parse().unwrap_or(0.0));
                    pending_seen.set(pending_seen.get().max(pending.unwrap_or(0.0)));
                }
                if job.status.is_final() {
                    break job;
                }
                assert!(Instant::now() < deadline, "the job did not settle in 240 s: {job:?}");
                std::thread::sleep(Duration::from_millis(500));
            }
        };
        let request = SubmitJobRequest {
            path: good.display().to_string(),
            replicas: 1,
            price_per_unit: 1000,
            ..Default::default()
        };
        // Requirements and the results folder are checked before anything is posted.
        for (bad, says) in [
            (SubmitJobRequest { regions: vec![40], ..request.clone() }, "40 is not a region"),
            (SubmitJobRequest { results_dir: Some("relative/dir".into()), ..request.clone() }, "full path"),
            (SubmitJobRequest { results_dir: Some(good.display().to_string()), ..request.clone() }, "is not empty"),
        ] {
            let err = market.submit(&bad).expect_err(says);
            assert_eq!(err.to_api().code, ErrorCode::InvalidInput, "{err}");
            assert!(err.to_string().contains(says), "{says}: {err}");
        }
        assert!(market.jobs().is_empty(), "a refused job is not listed");

        // Paused, the machine takes no job: nobody claims it and the escrow comes back.
        market.set_paused(true);
        assert!(market.status().provider.expect("provider").activity.starts_with("paused"));
        let unclaimed = settle(market.submit(&request).expect("submits").local_id);
        assert_eq!(unclaimed.status, JobStatus::Refunded, "{unclaimed:?}");
        // The owner sees why: the agent noted the job it did not take.
        let declined = market.status().provider.expect("provider").declined_jobs;
        let first = declined.first().expect("the paused job is noted");
        assert_eq!(
            (first.job_id.as_str(), first.reason.as_str()),
            (unclaimed.job_id.as_deref().expect("posted"), "earning is paused")
        );

        market.set_paused(false);
        // This machine (region 0, 2 GiB on llvmpipe) meets the requirements; the result goes
        // where the buyer chose.
        let chosen = scratch.path().join("chosen results");
        let submitted = market
            .submit(&SubmitJobRequest {
                min_memory_mib: 1024,
                regions: vec![0, 3],
                results_dir: Some(chosen.display().to_string()),
                ..request.clone()
            })
            .expect("submits");
        assert_eq!(submitted.status, JobStatus::Posting);
        let job = settle(submitted.local_id);
        assert_eq!(job.status, JobStatus::Verified, "{job:?}");
        let seen = stages.borrow().clone();
        assert_eq!(seen.last(), Some(&JobStage::Done), "{seen:?}");
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "the stages only move forward: {seen:?}");
        assert!(seen.contains(&JobStage::Running) && seen.contains(&JobStage::Verifying), "{seen:?}");
        assert!(pending_seen.get() > 0.0, "the claimed job showed as pending earnings while it ran");
        let tasks = tasks_seen.borrow();
        let job_id = job.job_id.clone().expect("posted");
        assert!(tasks.iter().any(|t| t.job_id == job_id), "the agent's task showed on the status: {tasks:?}");
        assert!(
            market.status().provider.expect("provider").current_task.is_none(),
            "no task once the result is computed"
        );
        let result = PathBuf::from(job.result_dir.expect("a verified job has its result saved"));
        assert_eq!(result, chosen, "saved where the buyer chose");
        assert!(result.join("embeddings.npy").is_file(), "the result holds the embeddings");

        // Earnings are credited when the job settles; the status reads them from the chain.
        let earned_after: f64 =
            market.status().provider.expect("provider").withdrawable_usd.parse().expect("a decimal amount");
        assert!(earned_after > earned_before, "the provider earned: {earned_before} -> {earned_after}");

        // The job's timeline: every step on chain, in order, with its transaction.
        let timeline = market.timeline(job.local_id).expect("the timeline reads");
        let steps: Vec<&str> = timeline.events.iter().map(|e| e.step.as_str()).collect();
        assert_eq!(steps, ["posted", "claimed", "selected", "committed", "revealed", "finalized"], "{timeline:?}");
        assert!(timeline.events.iter().all(|e| e.transaction.len() == 66), "each step names its transaction");
        assert!(timeline.events.windows(2).all(|w| w[0].at_unix_s <= w[1].at_unix_s), "oldest first");
        let revealed = &timeline.events[4];
        assert_eq!((revealed.replica, revealed.provider.as_deref()), (Some(0), Some(standing.address.as_str())));
        assert!(timeline.verification.as_deref().is_some_and(|v| v.starts_with("verified")), "{timeline:?}");
        let err = market.timeline(99).expect_err("no job 99");
        assert_eq!(err.to_api().code, ErrorCode::InvalidInput, "{err}");

        // The earnings chart reads the same payment from the chain's events: in the day's last
        // hour, the week's last day; the refunded job paid nothing.
        let day = market.earnings(EarningsPeriod::Day).expect("the earnings history reads");
        assert_eq!(day.buckets.len(), 24);
        let paid: f64 = day.total_usd.parse().expect("a decimal amount");
        assert!((paid - (earned_after - earned_before)).abs() < 1e-9, "chart {paid} vs balance change");
        assert_eq!(day.buckets[23].usd, day.total_usd, "paid within this hour: {day:?}");
        assert!(day.predicted_24h_usd.parse::<f64>().expect("a decimal") > 0.0, "{day:?}");
        assert_eq!(day.pending_usd, "0.00", "nothing claimed is unsettled: {day:?}");
        // Demand: both jobs were posted today, each offering $0.001 per unit.
        assert_eq!((day.market_jobs_24h, day.market_median_usd_per_unit.as_deref()), (2, Some("0.001")));
        let record = market.status().provider.expect("provider");
        assert_eq!((record.jobs_agreed, record.jobs_slashed, record.jobs_missed), (1, 0, 0), "{record:?}");
        let month = market.earnings(EarningsPeriod::Month).expect("the earnings history reads");
        assert_eq!((month.buckets.len(), month.total_usd.as_str()), (30, day.total_usd.as_str()));

        // A payout address change: a typo is refused naming the input; a good one waits out the
        // market's delay, and withdrawals still go to the current address meanwhile.
        let err = market.change_payout("0x12345").expect_err("not an address");
        assert_eq!(err.to_api().code, ErrorCode::InvalidInput, "{err}");
        assert!(err.to_string().contains("0x12345"), "{err}");
        let next = "0x00000000000000000000000000000000000000aA";
        market.change_payout(next).expect("a payout change is requested");
        let standing = market.status().provider.expect("provider");
        let pending = standing.pending_payout.expect("the change is pending");
        assert!(pending.address.eq_ignore_ascii_case(next), "{pending:?}");
        assert!(pending.effective_at_unix_s > day.now_unix_s + 86_400, "a delay of days: {pending:?}");
        assert_eq!(standing.payout_address, standing.address, "the current payout address is unchanged");

        // Shutting down stops anvil: nothing is left listening on the chain's port.
        let rpc = market.status().rpc_url.expect("a ready network has an RPC URL");
        let port: u16 = rpc.rsplit(':').next().and_then(|p| p.trim_end_matches('/').parse().ok()).expect("a port");
        market.shutdown();
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "anvil still listens on {port}");
    }
}

mod custom_network {
    use std::time::{Duration, Instant};

    use gridmint_node::{
        Paths, devnet,
        local::{LocalMarket, LocalMarketOptions, NetworkChoice},
        net,
    };
    use gridmint_protocol::NetworkPhase;

    /// The app on a network of the owner's: its RPC and deployment file, the owner's key
    /// registering this machine; a deployment file that does not read fails with its path.
    #[test]
    fn the_app_runs_on_a_custom_network_with_the_owners_key() {
        let Some(anvil) = super::local::anvil() else { return };
        let scratch = tempfile::tempdir().expect("scratch");
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let options = devnet::DevnetOptions {
            anvil: anvil.clone(),
            port: None,
            block_time: Some(1),
            accounts: 3,
            stop_with_thread: false,
            confirmations: 0,
        };
        let chain = rt.block_on(devnet::start(&Paths::under(&scratch.path().join("chain")), options)).expect("devnet");
        let deployment = scratch.path().join("deployment.json");
        chain.profile.deployment.save(&deployment).expect("save the deployment");
        let owner = net::dev_account(2).expect("a funded key");
        let start = |deployment: std::path::PathBuf, home: &str| {
            LocalMarket::start(
                Paths::under(&scratch.path().join(home)),
                LocalMarketOptions {
                    anvil: anvil.clone(),
                    block_time_s: 1,
                    claim_window_s: 6,
                    price_floor: Some(0),
                    device: None,
                    network: NetworkChoice::Custom {
                        rpc_url: chain.profile.rpc_url.clone(),
                        deployment,
                        signer: owner.clone(),
                    },
                    worker: None,
                },
            )
        };
        let wait = |market: &LocalMarket| {
            let deadline = Instant::now() + Duration::from_secs(240);
            loop {
                let status = market.status();
                if !matches!(status.phase, NetworkPhase::Starting) {
                    break status;
                }
                assert!(Instant::now() < deadline, "not ready in 240 s: {status:?}");
                std::thread::sleep(Duration::from_millis(500));
            }
        };

        let broken = scratch.path().join("missing-deployment.json");
        let failed = wait(&start(broken.clone(), "broken"));
        match failed.phase {
            NetworkPhase::Failed { message } => {
                assert!(message.contains("missing-deployment.json"), "the error names the file: {message}")
            }
            other => panic!("a missing deployment file must fail the network: {other:?}"),
        }

        let market = start(deployment, "home");
        let status = wait(&market);
        assert_eq!(status.phase, NetworkPhase::Ready, "{status:?}");
        assert_eq!(status.network, "custom");
        assert_eq!(status.rpc_url.as_deref(), Some(chain.profile.rpc_url.as_str()));
        let standing = status.provider.expect("the provider's standing");
        assert!(standing.registered, "registered and staked on the owner's network: {standing:?}");
        assert_eq!(standing.address, owner.address().to_string(), "with the owner's key");
        // Not the local network's one provider: the market's own limit on replicas.
        let request = gridmint_protocol::SubmitJobRequest {
            path: "/nonexistent".into(),
            replicas: 16,
            price_per_unit: 1000,
            ..Default::default()
        };
        let err = market.submit(&request).expect_err("16 replicas");
        assert!(err.to_string().contains("1 to 15"), "{err}");
        market.shutdown();
        drop(chain);
    }
}

mod peer {
    use super::local::anvil;

    use alloy::primitives::{Address, B256, U256, Uint, keccak256};
    use gridmint_chain::bindings::Gridmint;
    use gridmint_node::{
        Paths, devnet,
        exchange::{self, BlobStore},
        net::{self, Network},
    };

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

    /// Job data only reaches claimants, sealed to them, and checks against the chain; results only
    /// come from claimants, and only when their files hash to the root they are offered under.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn job_data_goes_only_to_claimants_and_results_must_match_their_root() {
        let Some(anvil) = anvil() else { return };
        let scratch = tempfile::tempdir().expect("scratch");
        let chain_paths = Paths::under(&scratch.path().join("chain"));
        let options = devnet::DevnetOptions {
            anvil,
            port: None,
            block_time: None,
            accounts: 4,
            stop_with_thread: false,
            confirmations: 0,
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
        let key = gridmint_node::peer::endpoint_key(&net::dev_account(1).expect("key"));
        assert_eq!(key.public(), buyer_peer.id(), "the endpoint id follows the wallet (stable across restarts)");

        let package = exchange::bundle(&[("job.toml".into(), b"kind = \"embed\"\n".to_vec())]).expect("bundle");
        let data = buyer_peer.local().put(&package).expect("put");
        let now = buyer.now().await.expect("clock");
        let params = Gridmint::JobParams {
            specHash: keccak256("job.toml"),
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
            claimDeadline: Uint::<40, 1>::from(now + 600),
            commitDeadline: Uint::<40, 1>::from(now + 1200),
            revealDeadline: Uint::<40, 1>::from(now + 1800),
        };
        buyer.market.approve_all(buyer.address()).await.expect("approve");
        let job_id = buyer.market.post_job(params).await.expect("post").value;
        let posted = buyer.posted_job(job_id).await.expect("logs").expect("posted");

        // Not a claimant: refused, and told why.
        let refused = outsider_peer.fetch_job_data(&outsider, &posted).await.expect_err("an outsider is refused");
        assert!(refused.to_string().contains("has not claimed"), "{refused}");

        register(&claimant).await;
        claimant.market.claim(job_id).await.expect("claim");
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
        let (bundle, buyer_key) = claimant_peer.fetch_job_data(&claimant, &posted).await.expect("a claimant gets it");
        assert_eq!(bundle, package, "the data arrives whole, checked against the data root");
        let buyer_signer = net::dev_account(1).expect("key");
        assert_eq!(
            Address::from_public_key(&buyer_key.into()),
            buyer_signer.address(),
            "the offer was signed by the job's buyer"
        );

        // A result whose files do not hash to the root it is offered under is refused.
        let entries = vec![("embeddings.npy".to_owned(), vec![1u8, 2, 3])];
        let result = exchange::bundle(&entries).expect("bundle");
        let root = B256::from(exchange::result_root(&entries));
        let sealed = gridmint_node::seal::seal(&buyer_key, &result);
        let wrong = claimant_peer.deliver_result(&claimant, &posted, B256::repeat_byte(7), &sealed).await;
        assert!(wrong.expect_err("a mismatched root is refused").to_string().contains("do not hash"));
        // Not sealed to the buyer: it cannot open it.
        let foreign = gridmint_node::seal::seal(&k256::SecretKey::random(&mut rand::rngs::OsRng).public_key(), &result);
        let unopened = claimant_peer.deliver_result(&claimant, &posted, root, &foreign).await;
        assert!(unopened.expect_err("a blob not sealed to the buyer is refused").to_string().contains("not sealed"));
        // An outsider cannot deliver.
        let sealed_by_outsider = gridmint_node::seal::seal(&buyer_key, &result);
        let intruder = outsider_peer.deliver_result(&outsider, &posted, root, &sealed_by_outsider).await;
        assert!(intruder.expect_err("an outsider's result is refused").to_string().contains("has not claimed"));
        assert!(buyer_peer.local().resolve(&format!("results/{root:x}")).expect("store").is_none());

        claimant_peer.deliver_result(&claimant, &posted, root, &sealed).await.expect("the claimant's result is taken");
        let stored = BlobStore::new(buyer_dir.join("blobs")).resolve(&format!("results/{root:x}")).expect("read");
        assert_eq!(stored, Some(result), "the buyer filed the result under its root, in its own data folder");
        let shared = chain.profile_path.parent().expect("profile dir").join("blobs");
        assert!(!shared.exists(), "no folder the nodes share carries data: {}", shared.display());
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

    use super::local::anvil;

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
            confirmations: 0,
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
                        region: 0,
                        exit_after_jobs: Some(2),
                        corrupt_results: false,
                        poll: Duration::from_millis(300),
                        paused: Some(paused),
                        control: None,
                        deadline_margin: Duration::from_secs(20),
                        held: None,
                        memory_share: None,
                        declined: None,
                        current_task: None,
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
        let (rows, cols) = buyer::join_embeddings(&dirs, &scratch.path().join("joined")).expect("join");
        assert_eq!((rows, cols), (6, 384));
        let report = provider.join().expect("the provider thread").expect("the provider served");
        assert_eq!(report.jobs_settled, 2);
        rt.block_on(buyer_net.close_peer());
        drop(chain);
    }
}
