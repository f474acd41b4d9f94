//! Device work in a process of its own: the desktop agent's way to run jobs, benchmarks and device
//! enumeration without loading the Vulkan driver into itself.
//!
//! A process that once loaded a Vulkan driver keeps much of it (Mesa's lavapipe is NODELETE: about
//! 60 MiB of driver pages stay mapped after every object is dropped, measured by gpu-engine's
//! `vulkan_residency` example). The agent runs in the tray for days, so it asks a short-lived
//! worker (its own executable, started with a flag) instead: one request per process, the answer
//! and progress as JSON lines on the worker's stdout, the steering of a running job (pause,
//! resume, cancel, pin) relayed as lines on its stdin. When the worker exits its memory goes back
//! to the system. The CLI, a foreground program, keeps the device in-process.

use std::{
    io::{BufRead as _, Write as _},
    path::PathBuf,
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use gpu_engine::control::{Control, RunState};
use gridmint_protocol::{BenchmarkProgress, BenchmarkReport, HardwareReport, ReproClass};
use serde::{Deserialize, Serialize};

use crate::{
    self as runner, Paths, RunnerError,
    challenge::{ChallengeTerms, Openings},
};

/// What a device offers the market: measured once, when the machine registers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceFacts {
    pub name: String,
    pub memory_bytes: u64,
    /// Compute units: the deterministic GEMM's GFLOP/s (at least 1).
    pub units: u32,
    /// The reproducibility classes the device proved (unfused always; fused where its `fma` is).
    #[serde(default = "unfused_only")]
    pub classes: Vec<ReproClass>,
}

fn unfused_only() -> Vec<ReproClass> {
    vec![ReproClass::Unfused]
}

impl DeviceFacts {
    /// Measures `gpu`: its name and memory, and a short deterministic GEMM benchmark.
    pub fn measure(gpu: &gpu_engine::Gpu) -> Result<Self, RunnerError> {
        let rate = gpu_engine::bench::gemm_rate(gpu, 512, gpu_engine::ReproClass::Unfused, 3)?;
        Ok(Self {
            name: gpu.info().name.clone(),
            memory_bytes: gpu.info().device_local_memory_bytes,
            units: rate.gflops.max(1.0) as u32,
            classes: crate::device_classes(gpu),
        })
    }
}

/// One request to a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum WorkerRequest {
    Hardware,
    Name {
        device: Option<u32>,
    },
    Facts {
        device: Option<u32>,
    },
    Benchmark {
        device: Option<u32>,
        reps: usize,
    },
    Run {
        device: Option<u32>,
        package: PathBuf,
        out: PathBuf,
        /// The job's reproducibility class.
        #[serde(default)]
        class: ReproClass,
        memory_share_pct: u8,
    },
    /// A device check's challenge: its root ([`crate::challenge::answer`]).
    ChallengeAnswer {
        device: Option<u32>,
        challenge: ChallengeTerms,
    },
    /// The rows a jury samples ([`crate::challenge::open`]).
    ChallengeOpen {
        device: Option<u32>,
        challenge: ChallengeTerms,
        sample_seed: [u8; 32],
    },
}

/// A worker's lines: progress, then one answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum WorkerReply {
    JobProgress {
        stage: String,
        done: u64,
        total: u64,
    },
    BenchmarkProgress(BenchmarkProgress),
    Hardware(HardwareReport),
    Name {
        name: String,
    },
    Facts(DeviceFacts),
    Benchmark(BenchmarkReport),
    Ran {
        work_units: u64,
    },
    ChallengeAnswered {
        root: [u8; 32],
    },
    ChallengeOpened(Openings),
    /// The request failed; `job` says the job itself could not run (not the machine), and
    /// `input` that its own input is at fault.
    Failed {
        message: String,
        job: bool,
        input: bool,
    },
}

/// How to start a worker: an executable and the arguments that make it one.
#[derive(Debug, Clone)]
pub struct DeviceWorker {
    exe: PathBuf,
    args: Vec<String>,
}

impl DeviceWorker {
    pub fn new(exe: PathBuf, args: Vec<String>) -> Self {
        Self { exe, args }
    }

    /// The devices and the host, enumerated in a worker.
    pub fn hardware(&self) -> Result<HardwareReport, RunnerError> {
        match self.call(&WorkerRequest::Hardware, None, &mut |_| {})? {
            WorkerReply::Hardware(report) => Ok(report),
            other => Err(unexpected(&other)),
        }
    }

    /// The name of `device` (the best one by default), opened in a worker.
    pub fn device_name(&self, device: Option<u32>) -> Result<String, RunnerError> {
        match self.call(&WorkerRequest::Name { device }, None, &mut |_| {})? {
            WorkerReply::Name { name } => Ok(name),
            other => Err(unexpected(&other)),
        }
    }

    /// What `device` offers the market, measured in a worker.
    pub fn facts(&self, device: Option<u32>) -> Result<DeviceFacts, RunnerError> {
        match self.call(&WorkerRequest::Facts { device }, None, &mut |_| {})? {
            WorkerReply::Facts(facts) => Ok(facts),
            other => Err(unexpected(&other)),
        }
    }

    /// Benchmarks `device` in a worker, passing its progress on.
    pub fn benchmark(
        &self,
        device: Option<u32>,
        reps: usize,
        progress: &mut dyn FnMut(BenchmarkProgress),
    ) -> Result<BenchmarkReport, RunnerError> {
        let mut on_line = |line: WorkerReply| {
            if let WorkerReply::BenchmarkProgress(p) = line {
                progress(p);
            }
        };
        match self.call(&WorkerRequest::Benchmark { device, reps }, None, &mut on_line)? {
            WorkerReply::Benchmark(report) => Ok(report),
            other => Err(unexpected(&other)),
        }
    }

    /// Answers a device check's challenge in a worker: its root.
    pub fn answer_challenge(&self, device: Option<u32>, challenge: &ChallengeTerms) -> Result<[u8; 32], RunnerError> {
        match self.call(&WorkerRequest::ChallengeAnswer { device, challenge: *challenge }, None, &mut |_| {})? {
            WorkerReply::ChallengeAnswered { root } => Ok(root),
            other => Err(unexpected(&other)),
        }
    }

    /// Opens the rows a device check's jury samples, in a worker.
    pub fn open_challenge(
        &self,
        device: Option<u32>,
        challenge: &ChallengeTerms,
        sample_seed: [u8; 32],
    ) -> Result<Openings, RunnerError> {
        let request = WorkerRequest::ChallengeOpen { device, challenge: *challenge, sample_seed };
        match self.call(&request, None, &mut |_| {})? {
            WorkerReply::ChallengeOpened(openings) => Ok(openings),
            other => Err(unexpected(&other)),
        }
    }

    /// Runs the job package `package` into `out` in a worker, as `how` says (the job's class, the
    /// memory share, the control that steers it); returns its work units.
    pub fn run(
        &self,
        device: Option<u32>,
        package: &std::path::Path,
        out: &std::path::Path,
        how: &runner::SlotRun,
        progress: runner::ProgressFn,
    ) -> Result<u64, RunnerError> {
        let request = WorkerRequest::Run {
            device,
            package: package.to_owned(),
            out: out.to_owned(),
            class: how.class,
            memory_share_pct: how.memory_share_pct,
        };
        let control = how.control.as_ref();
        let mut on_line = |line: WorkerReply| {
            if let WorkerReply::JobProgress { stage, done, total } = line {
                progress(&runner::Progress { stage, done, total });
            }
        };
        match self.call(&request, control, &mut on_line)? {
            WorkerReply::Ran { work_units } => Ok(work_units),
            other => Err(unexpected(&other)),
        }
    }

    /// Starts a worker, sends `request`, relays `control` while it runs, passes progress lines to
    /// `on_line`, and returns its answer (a failure as the error it names).
    fn call(
        &self,
        request: &WorkerRequest,
        control: Option<&Control>,
        on_line: &mut dyn FnMut(WorkerReply),
    ) -> Result<WorkerReply, RunnerError> {
        let gone = |message: String| RunnerError::Worker { message };
        let mut child = Command::new(&self.exe)
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| gone(format!("could not start {}: {e}", self.exe.display())))?;
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            return Err(gone("the worker's pipes did not open".into()));
        };
        let mut line = serde_json::to_vec(request).map_err(|e| gone(format!("the request: {e}")))?;
        line.push(b'\n');
        stdin.write_all(&line).and_then(|()| stdin.flush()).map_err(|e| gone(format!("writing the request: {e}")))?;
        // The relay: every change of the control, as a line, until the worker is done. Without a
        // control the pipe is still held open until the worker ends: the worker reads its end as
        // "nobody steers me any more" and cancels the run.
        let done = Arc::new(Mutex::new(false));
        let (relay, unsteered) = match control.cloned() {
            Some(control) => {
                let done = done.clone();
                (Some(std::thread::spawn(move || relay_control(&control, stdin, &done))), None)
            }
            None => (None, Some(stdin)),
        };
        let mut answer = None;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            match serde_json::from_str::<WorkerReply>(&line) {
                Ok(progress @ (WorkerReply::JobProgress { .. } | WorkerReply::BenchmarkProgress(_))) => {
                    on_line(progress)
                }
                Ok(reply) => answer = Some(reply),
                Err(e) => tracing::warn!(error = %e, %line, "the device worker wrote a line that is not a reply"),
            }
        }
        *done.lock().unwrap_or_else(|p| p.into_inner()) = true;
        let status = child.wait().map_err(|e| gone(format!("waiting for the worker: {e}")))?;
        drop(unsteered);
        if let Some(relay) = relay {
            let _ = relay.join();
        }
        match answer {
            Some(WorkerReply::Failed { message, job, input }) if job => {
                Err(RunnerError::Job(runner::JobError::Worker { message, input }))
            }
            Some(WorkerReply::Failed { message, .. }) => Err(gone(message)),
            Some(reply) => Ok(reply),
            None => Err(gone(format!("the device worker ended ({status}) without an answer"))),
        }
    }
}

fn unexpected(reply: &WorkerReply) -> RunnerError {
    RunnerError::Worker { message: format!("the device worker answered out of turn: {reply:?}") }
}

/// Writes each change of `control` (pin, then state) to the worker until `done`.
fn relay_control(control: &Control, mut stdin: std::process::ChildStdin, done: &Mutex<bool>) {
    let (mut state, mut pinned) = (RunState::Running, false);
    while !*done.lock().unwrap_or_else(|p| p.into_inner()) {
        let (now_pinned, now_state) = (control.is_pinned(), control.state());
        let mut lines = String::new();
        if now_pinned != pinned {
            lines.push_str(if now_pinned { "pin\n" } else { "unpin\n" });
            pinned = now_pinned;
        }
        if now_state != state {
            lines.push_str(match now_state {
                RunState::Running => "resume\n",
                RunState::Paused => "pause\n",
                RunState::Cancelled => "cancel\n",
            });
            state = now_state;
        }
        if !lines.is_empty() && stdin.write_all(lines.as_bytes()).and_then(|()| stdin.flush()).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The worker's side: reads one request from stdin, does it, writes the answer to stdout, and
/// returns whether it succeeded. Later stdin lines steer a running job; the end of stdin (the
/// agent gone) cancels it.
pub fn serve_stdio(paths: &Paths) -> bool {
    let stdin = std::io::stdin();
    let mut first = String::new();
    let out = Mutex::new(std::io::stdout());
    let write = |reply: &WorkerReply| match serde_json::to_vec(reply) {
        Ok(mut line) => {
            line.push(b'\n');
            let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
            let _ = out.write_all(&line).and_then(|()| out.flush());
        }
        Err(e) => tracing::error!(error = %e, "a reply could not be written"),
    };
    let request = match stdin.lock().read_line(&mut first).map(|_| serde_json::from_str::<WorkerRequest>(&first)) {
        Ok(Ok(request)) => request,
        Ok(Err(e)) => {
            write(&WorkerReply::Failed { message: format!("not a worker request: {e}"), job: false, input: false });
            return false;
        }
        Err(e) => {
            write(&WorkerReply::Failed { message: format!("reading the request: {e}"), job: false, input: false });
            return false;
        }
    };
    let control = Control::new();
    let steered = control.clone();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line.as_deref().map(str::trim) {
                Ok("pause") => steered.pause(),
                Ok("resume") => steered.resume(),
                Ok("cancel") => steered.cancel(),
                Ok("pin") => steered.pin(true),
                Ok("unpin") => steered.pin(false),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        // No one steers (or reads) this any more.
        steered.cancel();
    });
    let answer = match request {
        WorkerRequest::Hardware => crate::hardware::report().map(WorkerReply::Hardware),
        WorkerRequest::Name { device } => {
            crate::bench::open(paths, device).map(|gpu| WorkerReply::Name { name: gpu.info().name.clone() })
        }
        WorkerRequest::Facts { device } => crate::bench::open(paths, device).and_then(|gpu| {
            let facts = DeviceFacts::measure(&gpu);
            let _ = gpu.save_pipeline_cache();
            facts.map(WorkerReply::Facts)
        }),
        WorkerRequest::Benchmark { device, reps } => {
            crate::bench::run_with_progress(paths, device, reps, &mut |p| write(&WorkerReply::BenchmarkProgress(p)))
                .map(WorkerReply::Benchmark)
        }
        WorkerRequest::ChallengeAnswer { device, challenge } => crate::bench::open(paths, device)
            .and_then(|gpu| crate::challenge::answer(&gpu, &challenge))
            .map(|root| WorkerReply::ChallengeAnswered { root }),
        WorkerRequest::ChallengeOpen { device, challenge, sample_seed } => crate::bench::open(paths, device)
            .and_then(|gpu| crate::challenge::open(&gpu, &challenge, sample_seed))
            .map(WorkerReply::ChallengeOpened),
        WorkerRequest::Run { device, package, out, class, memory_share_pct } => {
            let how = runner::SlotRun { class, memory_share_pct, control: Some(control.clone()) };
            run_here(paths, device, &package, &out, &how, &mut |p| {
                write(&WorkerReply::JobProgress { stage: p.stage.clone(), done: p.done, total: p.total })
            })
        }
    };
    match answer {
        Ok(reply) => {
            write(&reply);
            true
        }
        Err(e) => {
            let (job, input) = match &e {
                RunnerError::Job(job) => (true, job.is_input_error()),
                _ => (false, false),
            };
            write(&WorkerReply::Failed { message: e.to_string(), job, input });
            false
        }
    }
}

/// A job on this process's device: reopened (and the job run again) if the driver loses it.
fn run_here(
    paths: &Paths,
    device: Option<u32>,
    package: &std::path::Path,
    out: &std::path::Path,
    how: &runner::SlotRun,
    progress: runner::ProgressFn,
) -> Result<WorkerReply, RunnerError> {
    let slot = crate::bench::open_slot(paths, device)?;
    let report = runner::run_in_slot(paths, &slot, package, out, how, progress)?;
    let _ = slot.gpu().save_pipeline_cache();
    Ok(WorkerReply::Ran { work_units: report.work_units })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every reply and request survives the wire (an internally tagged enum cannot carry a bare
    /// string, and a reply that fails to serialize would be lost).
    #[test]
    fn every_request_and_reply_round_trips_as_one_json_line() {
        let requests = [
            WorkerRequest::Hardware,
            WorkerRequest::Name { device: Some(1) },
            WorkerRequest::Facts { device: None },
            WorkerRequest::Benchmark { device: None, reps: 3 },
            WorkerRequest::Run {
                device: None,
                package: "/p".into(),
                out: "/o".into(),
                class: ReproClass::Fused,
                memory_share_pct: 50,
            },
            WorkerRequest::ChallengeAnswer {
                device: None,
                challenge: ChallengeTerms { seed: [9; 32], memory_mib: 1024, class: ReproClass::Unfused },
            },
            WorkerRequest::ChallengeOpen {
                device: Some(0),
                challenge: ChallengeTerms { seed: [9; 32], memory_mib: 1024, class: ReproClass::Fused },
                sample_seed: [1; 32],
            },
        ];
        for request in requests {
            let line = serde_json::to_string(&request).expect("serializes");
            assert!(!line.contains('\n'));
            assert_eq!(serde_json::from_str::<WorkerRequest>(&line).expect("parses"), request);
        }
        let replies = [
            WorkerReply::JobProgress { stage: "epoch".into(), done: 1, total: 2 },
            WorkerReply::BenchmarkProgress(BenchmarkProgress { done: 0, total: 1, stage: "x".into() }),
            WorkerReply::Hardware(HardwareReport {
                host: gridmint_protocol::HostInfo {
                    cpu_model: "c".into(),
                    physical_cores: Some(1),
                    logical_cores: 2,
                    memory_bytes: 3,
                    os: "o".into(),
                },
                devices: Vec::new(),
            }),
            WorkerReply::Name { name: "llvmpipe".into() },
            WorkerReply::Facts(DeviceFacts {
                name: "d".into(),
                memory_bytes: 1,
                units: 2,
                classes: ReproClass::ALL.to_vec(),
            }),
            WorkerReply::Ran { work_units: 7 },
            WorkerReply::Failed { message: "m\nsecond line".into(), job: true, input: false },
        ];
        for reply in replies {
            let line = serde_json::to_string(&reply).expect("serializes");
            assert!(!line.contains('\n'), "{line}");
            assert_eq!(serde_json::from_str::<WorkerReply>(&line).expect("parses"), reply);
        }
    }
}
