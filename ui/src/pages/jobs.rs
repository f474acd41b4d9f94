//! The jobs page: every job posted from this machine and, picked, its timeline on chain.

use gridmint_protocol::{ApiError, JobTimeline, ResultView};
use leptos::{prelude::*, task::spawn_local};

use crate::{
    components::{ErrorBox, Spec, job_table::JobTable},
    ipc,
    live::Live,
};

#[component]
pub fn Jobs(live: Live) -> impl IntoView {
    let open = RwSignal::new(None::<u64>);
    view! {
        <h1>"Jobs"</h1>
        <p class="sub">"Every job you posted from this machine, newest first. Pick one for its timeline."</p>
        {move || {
            let jobs = live.jobs.get();
            if jobs.is_empty() {
                view! { <p class="loading" data-testid="no-jobs">"No jobs yet: drop a package on the Buy page."</p> }.into_any()
            } else {
                view! { <JobTable jobs open /> }.into_any()
            }
        }}
        <JobDetail open live />
    }
}

/// The timeline of the job picked on the Jobs page: each replica's claim, commitment and reveal
/// on chain with its transaction, the settlement and the verification outcome. Read again every
/// two seconds while the job runs.
#[component]
pub fn JobDetail(open: RwSignal<Option<u64>>, live: Live) -> impl IntoView {
    let timeline = RwSignal::new(None::<Result<JobTimeline, ApiError>>);
    let load = move || {
        if let Some(id) = open.get_untracked() {
            spawn_local(async move {
                let read = ipc::job_timeline(id).await;
                if open.get_untracked() == Some(id) {
                    timeline.set(Some(read));
                }
            });
        }
    };
    Effect::new(move |_| {
        open.track();
        timeline.set(None);
        load();
    });
    // Read again when the agent pushes a new stage or status of this job: its chain events change
    // only then.
    let progress = Memo::new(move |_| {
        let id = open.get()?;
        live.jobs.with(|jobs| jobs.iter().find(|j| j.local_id == id).map(|j| (j.job_id, j.status, j.stage)))
    });
    Effect::new(move |previous: Option<()>| {
        progress.track();
        if previous.is_some() {
            load();
        }
    });
    view! {
        {move || open.get().map(|id| view! {
            <section class="card" data-testid="job-timeline">
                <div class="chart-head">
                    <div class="row-title">{format!("Job {id}: timeline")}</div>
                    <button class="link" data-testid="timeline-close" on:click=move |_| open.set(None)>"Close"</button>
                </div>
                {move || match timeline.get() {
                    None => view! { <p class="loading">"Reading the job's events…"</p> }.into_any(),
                    Some(Err(error)) => view! { <ErrorBox error /> }.into_any(),
                    Some(Ok(t)) => view! { <Timeline timeline=t /> }.into_any(),
                }}
                <OpenResults id live />
            </section>
        })}
    }
}

/// Opens a verified job's result folder in the file manager.
#[component]
pub fn OpenResults(id: u64, live: Live) -> impl IntoView {
    let outcome = RwSignal::new(None::<Result<(), ApiError>>);
    let saved =
        move || live.jobs.with(|jobs| jobs.iter().find(|j| j.local_id == id).and_then(|j| j.result_dir.clone()));
    let open = move |_| spawn_local(async move { outcome.set(Some(ipc::open_results(id).await)) });
    view! {
        {move || saved().map(|dir| view! {
            <div class="inline">
                <span class="mono small grow">{dir}</span>
                <button data-testid="open-results" on:click=open>"Open results"</button>
            </div>
            <ResultPanel id />
        })}
        {move || outcome.get().map(|r| match r {
            Ok(()) => view! { <p class="ok" data-testid="results-opened">"Opened in your file manager."</p> }.into_any(),
            Err(error) => view! { <ErrorBox error /> }.into_any(),
        })}
    }
}

/// A saved result read for people: what its outputs hold, and a generate job's completions.
#[component]
pub fn ResultPanel(id: u64) -> impl IntoView {
    let result = RwSignal::new(None::<Result<ResultView, ApiError>>);
    spawn_local(async move { result.set(Some(ipc::read_result(id).await)) });
    view! {
        {move || result.get().map(|r| match r {
            Err(error) => view! { <ErrorBox error /> }.into_any(),
            Ok(mut view) => {
                let shown = view.completions.len();
                let losses = std::mem::take(&mut view.losses);
                let more = (view.completions_total > shown as u64)
                    .then(|| format!("The first {shown} of {} completions; all are in completions.jsonl.", view.completions_total));
                view! {
                    <div data-testid="result-view" data-kind=view.kind.clone()>
                        <dl class="specs">
                            {view.facts.into_iter().map(|(label, value)| view! { <Spec label value /> }).collect_view()}
                        </dl>
                        {(!view.completions.is_empty()).then(|| view! {
                            <ol class="completions">
                                {view.completions.into_iter().map(|c| view! {
                                    <li data-testid="completion" value=c.index.to_string()>
                                        <pre class="completion-text">{c.text}</pre>
                                        <span class="muted small">{format!("{} tokens · {}", c.tokens, c.finish_reason)}</span>
                                    </li>
                                }).collect_view()}
                            </ol>
                        })}
                        {more.map(|m| view! { <p class="muted small">{m}</p> })}
                        {(!losses.is_empty()).then(|| view! { <LossCurve losses /> })}
                    </div>
                }.into_any()
            }
        })}
    }
}

/// A fine-tuning result's loss, step by step, as a line from the first step to the last.
#[component]
pub fn LossCurve(losses: Vec<f64>) -> impl IntoView {
    const W: f64 = 720.0;
    const H: f64 = 120.0;
    let shown = losses.len();
    // One step is a flat line.
    let losses = if shown == 1 { vec![losses[0]; 2] } else { losses };
    let (low, high) = losses.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| (l.min(x), h.max(x)));
    let span = (high - low).max(1e-12);
    let step = W / (losses.len().max(2) - 1) as f64;
    let points = losses
        .iter()
        .enumerate()
        .map(|(i, &x)| format!("{:.1},{:.1}", i as f64 * step, 4.0 + (high - x) / span * (H - 8.0)))
        .collect::<Vec<_>>()
        .join(" ");
    view! {
        <svg class="loss-curve" viewBox=format!("0 0 {W} {H}") preserveAspectRatio="none" role="img"
            aria-label="the training loss at each step" data-testid="loss-curve" data-points=shown.to_string()>
            <polyline points=points fill="none" stroke="currentColor" stroke-width="2" vector-effect="non-scaling-stroke" />
        </svg>
        <div class="axis muted small"><span>{format!("loss {high:.3}")}</span><span>{format!("{low:.3}")}</span></div>
    }
}

#[component]
pub fn Timeline(timeline: JobTimeline) -> impl IntoView {
    let start = timeline.events.first().map_or(0, |e| e.at_unix_s);
    let short = |s: &str| if s.len() > 14 { format!("{}…{}", &s[..8], &s[s.len() - 4..]) } else { s.to_owned() };
    view! {
        {timeline.verification.map(|v| view! { <p class="verification" data-testid="job-verification">{v}</p> })}
        {timeline.job_id.is_none().then(|| view! { <p class="muted">"Not on chain yet: publishing the data and posting."</p> })}
        <table class="jobs timeline">
            <thead><tr><th>"Time"</th><th>"Step"</th><th>"Replica"</th><th>"Provider"</th><th>"Detail"</th><th>"Transaction"</th></tr></thead>
            <tbody>
                {timeline.events.into_iter().map(|e| view! {
                    <tr data-testid="timeline-row">
                        <td>{format!("+{} s", e.at_unix_s.saturating_sub(start))}</td>
                        <td data-testid="timeline-step">{e.step}</td>
                        <td>{e.replica.map(|r| format!("#{r}")).unwrap_or_default()}</td>
                        <td class="mono small" title=e.provider.clone().unwrap_or_default()>{e.provider.as_deref().map(short).unwrap_or_default()}</td>
                        <td class="small">{e.detail.unwrap_or_default()}</td>
                        <td class="mono small" title=e.transaction.clone() data-testid="timeline-tx">{short(&e.transaction)}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}
