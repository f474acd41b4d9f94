//! The job list (Dashboard and Jobs) and a job's stage marker.

use gridmint_protocol::{JobStage, JobStatus, JobSummary};
use leptos::prelude::*;

/// upload → matching → running → verifying, the current one marked.
#[component]
pub fn Stages(stage: JobStage) -> impl IntoView {
    view! {
        <div class="stages" data-testid="job-stage" data-stage=stage.label()>
            {JobStage::ALL.into_iter().filter(|s| *s != JobStage::Done).map(|s| view! {
                <span class:done=s < stage class:now=s == stage>{s.label()}</span>
            }).collect_view()}
        </div>
    }
}

#[component]
pub fn JobTable(jobs: Vec<JobSummary>, #[prop(optional)] open: Option<RwSignal<Option<u64>>>) -> impl IntoView {
    view! {
        <table class="jobs card">
            <thead><tr><th>"#"</th><th>"Status"</th><th>"Package"</th><th>"Units"</th><th>"Time"</th><th>"Result"</th>
                {open.map(|_| view! { <th></th> })}</tr></thead>
            <tbody>
                {jobs.into_iter().map(|j| {
                    let class = match j.status {
                        JobStatus::Verified => "pill",
                        JobStatus::Failed | JobStatus::Disputed => "pill bad",
                        _ => "pill neutral",
                    };
                    let name = j.package.rsplit('/').next().unwrap_or(&j.package).to_owned();
                    let result = j.result_dir.clone().or(j.detail.clone()).unwrap_or_default();
                    view! {
                        <tr data-testid="job-row">
                            <td>{j.job_id.map_or_else(|| format!("local {}", j.local_id), |id| id.to_string())}</td>
                            <td>
                                <span class=class data-testid="job-status">{j.status.label()}</span>
                                {(!j.status.is_final()).then(|| view! { <Stages stage=j.stage /> })}
                            </td>
                            <td title=j.package.clone()>{name}</td>
                            <td>{j.work_units.get()}</td>
                            <td>{format!("{:.0} s", j.elapsed_s)}</td>
                            <td class="mono small" data-testid="job-result">{result}</td>
                            {open.map(|open| {
                                let id = j.local_id;
                                view! { <td><button class="link" data-testid="job-details"
                                    on:click=move |_| open.set(Some(id))>"Timeline"</button></td> }
                            })}
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
