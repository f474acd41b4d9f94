//! The node's state on disk (SQLite in the data folder): what must survive `kill -9`. Every step
//! of a provider task is written before the transaction it leads to, so a restarted node resumes
//! where it was: above all the result root and salt are stored before the commitment goes on
//! chain, since without them the reveal (and the payment) would be lost.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use crate::NodeError;

/// The schema, one migration per entry; `PRAGMA user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE cursor (network TEXT PRIMARY KEY, next_block INTEGER NOT NULL);
     CREATE TABLE provider_task (
         network TEXT NOT NULL,
         job_id TEXT NOT NULL,
         replica TEXT NOT NULL,
         claim_deadline INTEGER NOT NULL,
         result_root TEXT,
         salt TEXT,
         work_units INTEGER,
         compute_s REAL NOT NULL DEFAULT 0,
         committed INTEGER NOT NULL DEFAULT 0,
         revealed INTEGER NOT NULL DEFAULT 0,
         PRIMARY KEY (network, job_id)
     );",
    "CREATE TABLE buyer_job (
         network TEXT NOT NULL,
         job_id TEXT NOT NULL,
         out_dir TEXT NOT NULL,
         PRIMARY KEY (network, job_id)
     );",
    // What a provider learned of its own pace (crate::pace): measured job time over the model's.
    "CREATE TABLE pace (network TEXT PRIMARY KEY, scale REAL NOT NULL);",
    // The desktop app's jobs: what the Jobs page lists, kept across restarts. `network` names the
    // chain the job was posted on (the embedded devnet's differs at every start); `summary` is the
    // job's wire form (`gridmint_protocol::JobSummary`) as JSON.
    "CREATE TABLE app_job (
         local_id INTEGER PRIMARY KEY,
         network TEXT NOT NULL,
         job_id TEXT,
         summary TEXT NOT NULL,
         submitted_ms INTEGER NOT NULL,
         ended_ms INTEGER,
         results_to TEXT
     );",
];

/// One of the desktop app's jobs as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AppJob {
    pub summary: gridmint_protocol::JobSummary,
    /// The chain it was posted on ([`Store::save_app_job`]).
    pub network: String,
    /// Unix time in milliseconds.
    pub submitted_ms: u64,
    pub ended_ms: Option<u64>,
    /// Where its verified result goes, once posted.
    pub results_to: Option<String>,
}

/// A provider task as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTask {
    pub job_id: String,
    pub replica: String,
    pub claim_deadline: u64,
    /// (result root, salt, work units) once computed, hex without 0x for the hashes.
    pub result: Option<(String, String, u64)>,
    pub compute_s: f64,
    pub committed: bool,
    pub revealed: bool,
}

#[derive(Debug)]
pub struct Store {
    db: Connection,
}

fn db_error(e: rusqlite::Error) -> NodeError {
    NodeError::Store { message: e.to_string() }
}

impl Store {
    /// Opens (creating and migrating) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, NodeError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| NodeError::Io {
                what: "creating",
                path: parent.to_owned(),
                source: e,
            })?;
        }
        let db = Connection::open(path).map_err(db_error)?;
        db.pragma_update(None, "journal_mode", "WAL").map_err(db_error)?;
        db.pragma_update(None, "synchronous", "FULL").map_err(db_error)?;
        let applied: usize = db.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(db_error)?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
            db.execute_batch(sql).map_err(db_error)?;
            db.pragma_update(None, "user_version", i + 1).map_err(db_error)?;
        }
        Ok(Self { db })
    }

    pub fn cursor(&self, network: &str) -> Result<Option<u64>, NodeError> {
        self.db
            .query_row("SELECT next_block FROM cursor WHERE network = ?1", [network], |r| r.get::<_, i64>(0))
            .optional()
            .map(|v| v.map(|b| b as u64))
            .map_err(db_error)
    }

    pub fn set_cursor(&self, network: &str, next_block: u64) -> Result<(), NodeError> {
        self.db
            .execute(
                "INSERT INTO cursor (network, next_block) VALUES (?1, ?2)
                 ON CONFLICT(network) DO UPDATE SET next_block = excluded.next_block",
                params![network, next_block as i64],
            )
            .map(|_| ())
            .map_err(db_error)
    }

    pub fn tasks(&self, network: &str) -> Result<Vec<StoredTask>, NodeError> {
        let mut stmt = self
            .db
            .prepare(
                "SELECT job_id, replica, claim_deadline, result_root, salt, work_units, compute_s, committed, revealed
                 FROM provider_task WHERE network = ?1 ORDER BY job_id",
            )
            .map_err(db_error)?;
        let rows = stmt
            .query_map([network], |r| {
                let root: Option<String> = r.get(3)?;
                let salt: Option<String> = r.get(4)?;
                let units: Option<i64> = r.get(5)?;
                Ok(StoredTask {
                    job_id: r.get(0)?,
                    replica: r.get(1)?,
                    claim_deadline: r.get::<_, i64>(2)? as u64,
                    result: match (root, salt, units) {
                        (Some(root), Some(salt), Some(units)) => Some((root, salt, units as u64)),
                        _ => None,
                    },
                    compute_s: r.get(6)?,
                    committed: r.get::<_, i64>(7)? != 0,
                    revealed: r.get::<_, i64>(8)? != 0,
                })
            })
            .map_err(db_error)?;
        rows.collect::<Result<_, _>>().map_err(db_error)
    }

    pub fn insert_task(
        &self,
        network: &str,
        job_id: &str,
        replica: &str,
        claim_deadline: u64,
    ) -> Result<(), NodeError> {
        self.db
            .execute(
                "INSERT OR IGNORE INTO provider_task (network, job_id, replica, claim_deadline) VALUES (?1, ?2, ?3, ?4)",
                params![network, job_id, replica, claim_deadline as i64],
            )
            .map(|_| ())
            .map_err(db_error)
    }

    pub fn set_result(
        &self,
        network: &str,
        job_id: &str,
        root: &str,
        salt: &str,
        work_units: u64,
        compute_s: f64,
    ) -> Result<(), NodeError> {
        self.db
            .execute(
                "UPDATE provider_task SET result_root = ?3, salt = ?4, work_units = ?5, compute_s = ?6
                 WHERE network = ?1 AND job_id = ?2",
                params![network, job_id, root, salt, work_units as i64, compute_s],
            )
            .map(|_| ())
            .map_err(db_error)
    }

    pub fn mark(&self, network: &str, job_id: &str, committed: bool, revealed: bool) -> Result<(), NodeError> {
        self.db
            .execute(
                "UPDATE provider_task SET committed = ?3, revealed = ?4 WHERE network = ?1 AND job_id = ?2",
                params![network, job_id, committed as i64, revealed as i64],
            )
            .map(|_| ())
            .map_err(db_error)
    }

    /// Remembers where a posted job's result goes.
    pub fn insert_buyer_job(&self, network: &str, job_id: &str, out_dir: &str) -> Result<(), NodeError> {
        self.db
            .execute(
                "INSERT OR REPLACE INTO buyer_job (network, job_id, out_dir) VALUES (?1, ?2, ?3)",
                params![network, job_id, out_dir],
            )
            .map(|_| ())
            .map_err(db_error)
    }

    /// Where a posted job's result goes, if this node posted it.
    pub fn buyer_job_out(&self, network: &str, job_id: &str) -> Result<Option<String>, NodeError> {
        self.db
            .query_row("SELECT out_dir FROM buyer_job WHERE network = ?1 AND job_id = ?2", [network, job_id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db_error)
    }

    /// Whether any task is stored, on any network.
    pub fn any_task(&self) -> Result<bool, NodeError> {
        self.db.query_row("SELECT EXISTS(SELECT 1 FROM provider_task)", [], |r| r.get(0)).map_err(db_error)
    }

    /// Whether any task, on any network, has its result stored.
    pub fn any_computed(&self) -> Result<bool, NodeError> {
        self.db
            .query_row("SELECT EXISTS(SELECT 1 FROM provider_task WHERE result_root IS NOT NULL)", [], |r| r.get(0))
            .map_err(db_error)
    }

    /// The pace scale this node learned on `network` (see [`crate::pace::Pace::scale`]).
    pub fn pace_scale(&self, network: &str) -> Result<Option<f64>, NodeError> {
        self.db
            .query_row("SELECT scale FROM pace WHERE network = ?1", [network], |r| r.get(0))
            .optional()
            .map_err(db_error)
    }

    pub fn set_pace_scale(&self, network: &str, scale: f64) -> Result<(), NodeError> {
        self.db
            .execute(
                "INSERT INTO pace (network, scale) VALUES (?1, ?2)
                 ON CONFLICT(network) DO UPDATE SET scale = excluded.scale",
                params![network, scale],
            )
            .map(|_| ())
            .map_err(db_error)
    }

    /// Writes one of the app's jobs (a new one, or its latest state).
    pub fn save_app_job(&self, job: &AppJob) -> Result<(), NodeError> {
        let summary = serde_json::to_string(&job.summary)
            .map_err(|e| NodeError::Store { message: format!("app job {}: {e}", job.summary.local_id) })?;
        self.db
            .execute(
                "INSERT INTO app_job (local_id, network, job_id, summary, submitted_ms, ended_ms, results_to)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(local_id) DO UPDATE SET network = excluded.network, job_id = excluded.job_id,
                     summary = excluded.summary, ended_ms = excluded.ended_ms, results_to = excluded.results_to",
                params![
                    job.summary.local_id as i64,
                    job.network,
                    job.summary.job_id.map(|id| id.to_string()),
                    summary,
                    job.submitted_ms as i64,
                    job.ended_ms.map(|t| t as i64),
                    job.results_to
                ],
            )
            .map(|_| ())
            .map_err(db_error)
    }

    /// The app's jobs, oldest first. A row whose summary does not read is an error naming it.
    pub fn app_jobs(&self) -> Result<Vec<AppJob>, NodeError> {
        let mut stmt = self
            .db
            .prepare(
                "SELECT local_id, network, summary, submitted_ms, ended_ms, results_to FROM app_job ORDER BY local_id",
            )
            .map_err(db_error)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ))
            })
            .map_err(db_error)?;
        let mut jobs = Vec::new();
        for row in rows {
            let (local_id, network, summary, submitted_ms, ended_ms, results_to) = row.map_err(db_error)?;
            let summary = serde_json::from_str(&summary)
                .map_err(|e| NodeError::Store { message: format!("app job {local_id}: its summary: {e}") })?;
            jobs.push(AppJob {
                summary,
                network,
                submitted_ms: submitted_ms as u64,
                ended_ms: ended_ms.map(|t| t as u64),
                results_to,
            });
        }
        Ok(jobs)
    }

    pub fn remove_task(&self, network: &str, job_id: &str) -> Result<(), NodeError> {
        self.db
            .execute("DELETE FROM provider_task WHERE network = ?1 AND job_id = ?2", params![network, job_id])
            .map(|_| ())
            .map_err(db_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_and_cursor_survive_reopening() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("node.sqlite3");
        {
            let store = Store::open(&path).expect("open");
            store.set_cursor("m", 42).expect("cursor");
            store.insert_task("m", "7", "0", 1000).expect("task");
            store.set_result("m", "7", "ab", "cd", 29, 1.5).expect("result");
            store.mark("m", "7", true, false).expect("mark");
        }
        let store = Store::open(&path).expect("reopen");
        assert_eq!(store.cursor("m").expect("cursor"), Some(42));
        assert_eq!(store.cursor("other").expect("cursor"), None);
        let tasks = store.tasks("m").expect("tasks");
        assert_eq!(
            tasks,
            vec![StoredTask {
                job_id: "7".into(),
                replica: "0".into(),
                claim_deadline: 1000,
                result: Some(("ab".into(), "cd".into(), 29)),
                compute_s: 1.5,
                committed: true,
                revealed: false,
            }]
        );
        store.insert_buyer_job("m", "3", "/out").expect("buyer job");
        assert_eq!(store.buyer_job_out("m", "3").expect("read"), Some("/out".to_owned()));
        assert_eq!(store.buyer_job_out("m", "4").expect("read"), None);
        assert_eq!(store.pace_scale("m").expect("pace"), None);
        store.set_pace_scale("m", 2.5).expect("pace");
        store.set_pace_scale("m", 3.0).expect("pace");
        assert_eq!(store.pace_scale("m").expect("pace"), Some(3.0));
        store.remove_task("m", "7").expect("remove");
        assert!(store.tasks("m").expect("tasks").is_empty());
    }

    #[test]
    fn the_apps_jobs_survive_reopening_and_keep_their_latest_state() {
        use gridmint_protocol::{JobStage, JobStatus, JobSummary};
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("node.sqlite3");
        let summary = JobSummary {
            local_id: 1,
            job_id: None,
            package: "/p".into(),
            status: JobStatus::Posting,
            detail: None,
            work_units: gridmint_protocol::WorkUnits(3),
            replicas: 1,
            result_dir: None,
            elapsed_s: 0.0,
            stage: JobStage::Uploading,
        };
        let mut job = AppJob { summary, network: "local:1".into(), submitted_ms: 5, ended_ms: None, results_to: None };
        {
            let store = Store::open(&path).expect("open");
            store.save_app_job(&job).expect("insert");
            job.summary.job_id = Some(gridmint_protocol::JobId::new(12));
            job.summary.status = JobStatus::Verified;
            job.ended_ms = Some(9);
            job.results_to = Some("/r".into());
            store.save_app_job(&job).expect("update");
        }
        let store = Store::open(&path).expect("reopen");
        assert_eq!(store.app_jobs().expect("read"), vec![job]);
        store.db.execute("UPDATE app_job SET summary = '{' WHERE local_id = 1", []).expect("corrupt");
        let err = store.app_jobs().expect_err("a corrupt row is an error");
        assert!(err.to_string().contains("app job 1"), "{err}");
    }
}
