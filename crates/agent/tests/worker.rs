//! The device worker, as the agent runs it: this crate's own binary with `--device-worker`, on
//! the machine's real Vulkan device (llvmpipe here).
//!
//! Module map:
//! - `worker`: device enumeration and the registration facts in a worker; a training job steered
//!   from this process (paused: no progress; resumed: done) whose result is bit for bit the one
//!   an in-process run gives; a cancelled job fails as the job's failure; a worker killed
//!   mid-job fails as the machine's (the provider tries again); bad requests are clear errors; a
//!   run nobody steers (the buyer's spot check) runs to its end.

mod worker {
    use std::{
        path::Path,
        sync::{Arc, Mutex},
        time::{Duration, Instant},
    };

    use gpu_engine::control::Control;
    use gridmint_node::{Node, Paths};
    use gridmint_runner::{JobError, RunnerError, SlotRun, worker::DeviceWorker};

    fn worker() -> DeviceWorker {
        DeviceWorker::new(env!("CARGO_BIN_EXE_gridmint-agent").into(), vec!["--device-worker".into()])
    }

    /// Whether this machine has Vulkan; without it the tests skip unless GRIDMINT_REQUIRE_VULKAN=1.
    fn vulkan() -> bool {
        match worker().hardware() {
            Ok(report) if !report.devices.is_empty() => true,
            other => {
                let required = std::env::var("GRIDMINT_REQUIRE_VULKAN").is_ok_and(|v| v == "1");
                assert!(!required, "GRIDMINT_REQUIRE_VULKAN=1 but the worker found no device: {other:?}");
                eprintln!("SKIPPED: no Vulkan device ({other:?})");
                false
            }
        }
    }

    /// A small classifier to train: two noisy classes in 8 features, long enough to pause.
    fn training_package(dir: &Path, epochs: u32) {
        std::fs::create_dir_all(dir).expect("package folder");
        let job = format!(
            "kind = \"train\"\ndata = \"d.csv\"\n[train]\nhidden = [16]\nlearning_rate = 0.05\nepochs = {epochs}\nbatch_size = 8\n"
        );
        std::fs::write(dir.join("job.toml"), job).expect("job.toml");
        let mut csv = String::new();
        for i in 0..512u32 {
            let label = i % 2;
            let features: Vec<String> = (0..8u32)
                .map(|f| format!("{:.3}", f64::from((i * 7 + f * 13) % 17) / 17.0 + f64::from(label)))
                .collect();
            csv.push_str(&format!("{},{label}\n", features.join(",")));
        }
        std::fs::write(dir.join("d.csv"), csv).expect("d.csv");
    }

    fn result_root(out: &Path) -> String {
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("result.json")).expect("result.json")).expect("json");
        report["resultRoot"].as_str().unwrap_or_else(|| panic!("no resultRoot in {report}")).to_owned()
    }

    #[test]
    fn enumeration_and_the_registration_facts_come_from_a_worker() {
        if !vulkan() {
            return;
        }
        let report = worker().hardware().expect("the hardware report");
        assert!(report.host.logical_cores >= 1, "{:?}", report.host);
        let facts = worker().facts(None).expect("the device's facts");
        assert_eq!(facts.name, worker().device_name(None).expect("its name"));
        assert!(report.devices.iter().any(|d| d.name == facts.name), "{facts:?} in {report:?}");
        assert!(facts.units >= 1 && facts.memory_bytes > 0, "{facts:?}");
        let missing = worker().device_name(Some(99)).expect_err("no device 99");
        assert!(matches!(missing, RunnerError::Worker { .. }), "{missing:?}");
        assert!(missing.to_string().contains("99"), "the error names the device: {missing}");
    }

    /// What a steered run shares with the test: its control, the progress seen, the run.
    struct Steered {
        control: Control,
        seen: Arc<Mutex<Vec<u64>>>,
        run: std::thread::JoinHandle<Result<u64, RunnerError>>,
    }

    /// Starts a 40-epoch training job in a worker, steered from here, and waits for its
    /// `progress_lines`-th progress line.
    fn steered_run(tmp: &Path, out: &str, progress_lines: usize) -> Steered {
        let package = tmp.join("pkg");
        training_package(&package, 40);
        let control = Control::new();
        let seen: Arc<Mutex<Vec<u64>>> = Arc::default();
        let run = {
            let (control, seen, out) = (control.clone(), seen.clone(), tmp.join(out));
            std::thread::spawn(move || {
                let how = SlotRun { memory_share_pct: 100, control: Some(control), ..SlotRun::default() };
                worker().run(None, &package, &out, &how, &mut |p| {
                    seen.lock().expect("lock").push(p.done);
                })
            })
        };
        let started = Instant::now();
        while seen.lock().expect("lock").len() < progress_lines {
            assert!(started.elapsed() < Duration::from_secs(120), "no progress from the worker");
            std::thread::sleep(Duration::from_millis(10));
        }
        Steered { control, seen, run }
    }

    /// A run nobody steers (the buyer's spot check: `control: None`) closed the worker's stdin at
    /// once, which the worker reads as "nobody is there any more" and cancels: every spot check
    /// in a worker failed after 0 dispatches, and the buyer settled the job unchecked.
    #[test]
    fn attack_an_unsteered_run_in_a_worker_is_not_cancelled_so_the_spot_check_runs() {
        if !vulkan() {
            return;
        }
        let tmp = tempfile::tempdir().expect("tmp");
        let package = tmp.path().join("pkg");
        training_package(&package, 2);
        let out = tmp.path().join("out");
        let how = SlotRun { memory_share_pct: 100, ..SlotRun::default() };
        let units = worker().run(None, &package, &out, &how, &mut |_| {}).expect("an unsteered run completes");
        assert!(units > 0 && out.join("result.json").is_file(), "the job ran to its end");
        // The buyer's spot check, in a worker as the desktop runs it, re-runs the job through its last epoch.
        let read_all = |dir: &Path| -> Vec<(String, Vec<u8>)> {
            gridmint_peer::exchange::files(dir)
                .expect("files")
                .into_iter()
                .map(|(n, p)| (n, std::fs::read(p).expect("read")))
                .collect()
        };
        let bundle = gridmint_peer::exchange::bundle(&read_all(&package)).expect("bundle");
        let check = gridmint_node::spot::SpotCheck {
            paths: Paths::under(&tmp.path().join("home")).with_models(tmp.path().join("models")),
            rows: 4,
            device: None,
            worker: Some(worker()),
        };
        let outcome =
            check.check_through(&bundle, &read_all(&out), &mut |epochs| epochs - 1).expect("the spot check runs");
        assert_eq!(outcome, gridmint_node::spot::SpotOutcome::Agrees { rows: vec![0, 1] });
    }

    #[test]
    fn a_job_steered_from_here_pauses_resumes_and_matches_an_in_process_run_bit_for_bit() {
        if !vulkan() {
            return;
        }
        let tmp = tempfile::tempdir().expect("tmp");
        let Steered { control, seen, run } = steered_run(tmp.path(), "worker-out", 2);
        control.pause();
        // Let the pause reach the worker and the step under way finish.
        std::thread::sleep(Duration::from_millis(500));
        let paused_at = seen.lock().expect("lock").len();
        std::thread::sleep(Duration::from_millis(1500));
        let after = seen.lock().expect("lock").len();
        assert_eq!(after, paused_at, "progress while paused");
        assert!(!run.is_finished(), "the job finished while paused");
        control.resume();
        let units = run.join().expect("the run thread").expect("the job runs to the end");
        assert!(units > 0);
        let steps = seen.lock().expect("lock").len();
        assert!(steps > after, "progress after resuming");

        let here = tmp.path().join("here-out");
        let node = Node::new(Paths::under(&tmp.path().join("home")).with_models(tmp.path().join("models")));
        let report = node.run_job(&tmp.path().join("pkg"), &here, None, &mut |_| {}).expect("the same job in-process");
        assert_eq!(report.work_units, units, "the same work units");
        assert_eq!(result_root(&tmp.path().join("worker-out")), result_root(&here), "the same bits");
    }

    #[test]
    fn a_cancelled_job_fails_as_the_jobs_and_a_killed_worker_as_the_machines() {
        if !vulkan() {
            return;
        }
        let tmp = tempfile::tempdir().expect("tmp");
        let Steered { control, run, .. } = steered_run(tmp.path(), "out", 1);
        control.cancel();
        let err = run.join().expect("the run thread").expect_err("a cancelled job fails");
        assert!(matches!(err, RunnerError::Job(JobError::Worker { input: false, .. })), "{err:?}");
        assert!(err.to_string().contains("cancel"), "it says so: {err}");
        assert!(!tmp.path().join("out/result.json").exists(), "no half result");

        // A worker that dies is the machine's failure (the provider tries again), not the job's.
        let package = tmp.path().join("pkg");
        let dead = DeviceWorker::new("/bin/sh".into(), vec!["-c".into(), "read line; exit 3".into()]);
        let how = SlotRun { memory_share_pct: 100, ..SlotRun::default() };
        let err = dead.run(None, &package, &tmp.path().join("out2"), &how, &mut |_| {}).expect_err("no answer");
        assert!(matches!(err, RunnerError::Worker { .. }), "{err:?}");
        assert!(err.to_string().contains("without an answer"), "{err}");
        let bad = DeviceWorker::new(tmp.path().join("no-such-worker"), vec![]).hardware().expect_err("not there");
        assert!(bad.to_string().contains("no-such-worker"), "the error names the program: {bad}");
    }
}
