//! Logs to stderr and to a daily file in the log directory.

use std::path::Path;

use tracing_subscriber::{EnvFilter, fmt, layer::SubscriberExt, util::SubscriberInitExt};

/// The log file: this workspace's `info` and above, the peer-to-peer stack's warnings.
const FILE_FILTER: &str = "info,iroh=warn,iroh_blobs=warn,noq=warn,noq_proto=warn,portmapper=warn";

/// Keeps the file writer flushing; hold it for the life of the process.
pub type LogGuard = tracing_appender::non_blocking::WorkerGuard;

/// Installs the global subscriber. `RUST_LOG` overrides `default_level` for stderr; the file
/// gets [`FILE_FILTER`]. Returns the guard of the file writer.
pub fn init(log_dir: &Path, file_prefix: &str, default_level: &str) -> std::io::Result<LogGuard> {
    std::fs::create_dir_all(log_dir)?;
    let appender = tracing_appender::rolling::daily(log_dir, file_prefix);
    let (file_writer, guard) = tracing_appender::non_blocking(appender);
    let stderr_filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let registry = tracing_subscriber::registry()
        .with(fmt::layer().with_writer(std::io::stderr).with_filter(stderr_filter))
        .with(fmt::layer().with_ansi(false).with_writer(file_writer).with_filter(EnvFilter::new(FILE_FILTER)));
    // A second init (tests, embedding) keeps the first subscriber.
    let _ = registry.try_init();
    Ok(guard)
}

use tracing_subscriber::Layer as _;
