//! `gridmint run <package> --out <dir>`: runs a job package on this machine, with no network.

use std::path::PathBuf;

use anyhow::Context;
use gridmint_node::Node;
use gridmint_runner::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The job package: a folder or a .zip holding job.toml.
    package: PathBuf,
    /// Where the outputs go: a new or empty folder. Nothing is written there if the run fails.
    #[arg(long)]
    out: PathBuf,
    /// The device index from `gridmint gpus` (default: the best).
    #[arg(long)]
    gpu: Option<u32>,
}

pub fn run(node: &Node, args: RunArgs, json: bool) -> anyhow::Result<()> {
    // The bar draws on stderr only for a person at a terminal.
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} {elapsed} (eta {eta})")
            .context("progress template")?
            .progress_chars("=> "),
    );
    let mut on_progress = |p: &Progress| {
        if bar.message() != p.stage {
            bar.set_message(p.stage.clone());
            bar.set_length(p.total);
        }
        bar.set_position(p.done);
    };
    let result = node.run_job(&args.package, &args.out, args.gpu, &mut on_progress);
    bar.finish_and_clear();
    let report = result?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} job done in {:.1} s on {} ({} class)",
            report.kind.as_str(),
            report.seconds,
            report.device,
            report.class
        );
        println!("  items:       {}", report.items);
        println!("  work units:  {}", report.work_units);
        println!("  result root: {}", report.result_root);
        let (nested, top): (Vec<_>, Vec<_>) = report.outputs.iter().partition(|f| f.path.contains('/'));
        for file in top {
            println!("  {} ({} bytes, blake3 {})", args.out.join(&file.path).display(), file.bytes, &file.blake3[..16]);
        }
        if let Some(first) = nested.first() {
            let folder = first.path.split('/').next().unwrap_or_default();
            println!("  {} more files under {}", nested.len(), args.out.join(folder).display());
        }
        // What the result says, for a person: a generate job's first completions.
        if report.kind == gridmint_protocol::JobKind::Generate
            && let Ok(view) = gridmint_runner::readback::read(&args.out)
        {
            for c in view.completions.iter().take(3) {
                println!("  [{}] ({} tokens, {}) {:?}", c.index, c.tokens, c.finish_reason, c.text);
            }
            if view.completions_total > 3 {
                println!("  … {} completions in all", view.completions_total);
            }
        }
    }
    Ok(())
}
