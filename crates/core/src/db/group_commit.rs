//! Group commit for SQLite: write transactions that arrive while another is running share
//! one commit.
//!
//! SQLite has one writer, and with `synchronous = FULL` every commit waits for the disk
//! (an fsync of the WAL, close to a millisecond on ordinary disks). With one commit per
//! upload, that wait caps small uploads at about a thousand per second whatever the
//! CPU. PostgreSQL and MySQL batch their log flushes across sessions by themselves;
//! SQLite needs it done here.
//!
//! One task owns the writer connection for this. It takes the waiting units of work, runs
//! each inside a savepoint of one transaction (a unit that fails is rolled back to its
//! savepoint and leaves the others untouched), and commits once. Each caller hears its
//! own result only after the commit is durable; if the commit fails, every unit of that
//! group fails, and none of them became visible.
//!
//! The units run on the committer task, not on their callers' tasks: a caller that goes
//! away (a client disconnecting) cannot leave the shared transaction half-done.

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use super::{Db, Tx};
use crate::error::{Error, Result};

/// At most this many units share one commit, so that a steady stream of writers still
/// sees its commits every few milliseconds.
const MAX_GROUP: usize = 64;

type Run = Box<dyn for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, bool> + Send>;

pub(super) struct Unit {
    /// Runs the caller's work; true when it succeeded (its result goes back on its own
    /// channel, which the closure holds).
    run: Run,
    /// The outcome of the commit the unit was part of.
    committed: Committed,
}

/// The handle through which units reach the committer task.
#[derive(Debug, Clone)]
pub(super) struct Committer {
    queue: mpsc::UnboundedSender<Unit>,
    /// Commits made so far (a test checks that units do share them).
    #[cfg_attr(not(test), allow(dead_code))]
    commits: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Unit")
    }
}

impl Committer {
    /// Starts the committer task on the current runtime. It ends when every handle
    /// (every clone of the `Db`) is gone. (A thread of its own, so that the open
    /// transaction's steps need not queue behind requests, measured no faster.)
    pub(super) fn start(db: Db) -> Self {
        let (queue, units) = mpsc::unbounded_channel();
        let commits = std::sync::Arc::<std::sync::atomic::AtomicU64>::default();
        tokio::spawn(run_committer(db, units, std::sync::Arc::clone(&commits)));
        Self { queue, commits }
    }

    #[cfg(test)]
    fn commits(&self) -> u64 {
        self.commits.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(super) async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<T>> + Send + 'static,
    {
        let (result_tx, result_rx) = oneshot::channel();
        let (committed_tx, committed_rx) = oneshot::channel();
        let request = crate::audit::current_request();
        let run: Run = Box::new(move |tx| {
            Box::pin(async move {
                // The unit runs on the committer's task; its audit entries still name the
                // request that sent it.
                let result = match request {
                    Some(r) => crate::audit::REQUEST.scope(r, work(tx)).await,
                    None => work(tx).await,
                };
                let ok = result.is_ok();
                let _ = result_tx.send(result);
                ok
            })
        });
        let stopped = || Error::Internal("the database writer has stopped".into());
        self.queue
            .send(Unit {
                run,
                committed: committed_tx,
            })
            .map_err(|_| stopped())?;
        let result = match result_rx.await {
            Ok(result) => result,
            // The work did not finish: the transaction could not be started, or the
            // work panicked and was undone.
            Err(_) => {
                return Err(match committed_rx.await {
                    Ok(Err(e)) => Error::Internal(format!("write transaction failed: {e}")),
                    _ => stopped(),
                });
            }
        };
        // A failed unit was rolled back at once; it does not wait for the others.
        let value = result?;
        match committed_rx.await.map_err(|_| stopped())? {
            Ok(()) => Ok(value),
            Err(e) => Err(Error::Internal(format!("commit failed: {e}"))),
        }
    }
}

type Committed = oneshot::Sender<std::result::Result<(), String>>;

async fn run_committer(
    db: Db,
    mut units: mpsc::UnboundedReceiver<Unit>,
    commits: std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    while let Some(first) = units.recv().await {
        let mut tx = match begin_group(&db).await {
            Ok(tx) => tx,
            Err(e) => {
                tracing::error!(error = %e, "starting a write transaction failed");
                let _ = first.committed.send(Err(e.to_string()));
                continue;
            }
        };
        let mut done: Vec<Committed> = Vec::new();
        let mut broken = None;
        let mut ran = 0;
        let mut next = Some(first);
        while let Some(unit) = next.take() {
            ran += 1;
            let committed = unit.committed;
            // A unit that fails is undone up to its savepoint; the others stay.
            if let Err(e) = sqlx::query("SAVEPOINT unit").execute(&mut *tx).await {
                broken = Some(e.to_string());
                done.push(committed);
                break;
            }
            // A unit that panics (a bug) must not take the writer down with it: it
            // counts as failed and is undone like any other.
            let ok = AssertUnwindSafe((unit.run)(&mut tx))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| {
                    tracing::error!("a write transaction's work panicked; it was undone");
                    false
                });
            // A unit that succeeded keeps its savepoint: the commit releases them all,
            // and a later unit's savepoint nests inside (ROLLBACK TO takes the newest of
            // the name). A release would be one more trip to the database for each unit
            // while the others wait.
            if ok {
                done.push(committed);
            } else if let Err(e) = sqlx::query("ROLLBACK TO unit").execute(&mut *tx).await {
                broken = Some(e.to_string());
                done.push(committed);
                break;
            }
            // Failed units count too: their savepoints stay open until the commit.
            if ran < MAX_GROUP {
                // Whoever came while this unit ran joins the group.
                next = units.try_recv().ok();
            }
        }
        // See `begin_group`.
        if broken.is_none()
            && let Err(e) = sqlx::query("RELEASE grp").execute(&mut *tx).await
        {
            broken = Some(e.to_string());
        }
        let outcome = match broken {
            // The transaction itself is unusable: nothing of this group is kept.
            Some(e) => {
                let _ = tx.rollback().await;
                Err(e)
            }
            None => tx.commit().await.map_err(|e| e.to_string()),
        };
        commits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Err(e) = &outcome {
            tracing::error!(error = %e, units = done.len(), "a group commit failed");
        }
        for committed in done {
            let _ = committed.send(outcome.clone());
        }
    }
}

/// A group's transaction, holding a savepoint of its own that is released just before
/// the commit: if SQLite rolled the whole transaction back under a unit (a full disk, an
/// I/O error) and the unit did not say so, the next unit's savepoint would quietly start
/// a new transaction; the release then fails and nothing of the group counts as
/// committed.
async fn begin_group(db: &Db) -> Result<Tx> {
    let mut tx = db.begin_write().await?;
    sqlx::query("SAVEPOINT grp").execute(&mut *tx).await?;
    Ok(tx)
}

#[cfg(test)]
// The tests pause in real time to make threads meet.
#[allow(clippy::disallowed_methods)]
mod tests {
    use crate::db::Db;
    use crate::error::Error;

    async fn count(db: &Db, action: &'static str) -> i64 {
        db.qs::<i64>("SELECT COUNT(*) FROM audit_log WHERE action = ?")
            .bind(action)
            .fetch_one(db.pool())
            .await
            .expect("count")
    }

    async fn fresh_db() -> (Db, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("amtsbote-gc-{}", crate::ids::token(6)));
        std::fs::create_dir_all(&dir).expect("dir");
        let url = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
        (Db::connect(&url).await.expect("connect"), dir)
    }

    /// After a failure the committer still takes and commits new work.
    async fn the_writer_goes_on(db: &Db) {
        db.write(|tx| {
            Box::pin(async move {
                insert(tx, "unit.after").await;
                Ok(())
            })
        })
        .await
        .expect("the writer still works");
        assert_eq!(count(db, "unit.after").await, 1);
    }

    async fn insert(tx: &mut crate::db::Tx, action: &'static str) {
        sqlx::query("INSERT INTO audit_log (at, actor_kind, actor_label, action, target, outcome, detail) VALUES (0, 'system', 'test', ?, '', 'success', '')")
            .bind(action)
            .execute(&mut **tx)
            .await
            .expect("insert");
    }

    /// A unit that panics is undone and the writer keeps serving the next ones.
    #[tokio::test]
    async fn a_panicking_unit_is_undone_and_the_writer_goes_on() {
        let (db, dir) = fresh_db().await;
        let panicked: crate::error::Result<()> = db
            .write(|tx| {
                Box::pin(async move {
                    insert(tx, "unit.panics").await;
                    panic!("a bug in the unit");
                })
            })
            .await;
        assert!(panicked.is_err());
        assert_eq!(count(&db, "unit.panics").await, 0);
        the_writer_goes_on(&db).await;
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    /// SQLite may roll a whole transaction back under a statement (a full disk, an I/O
    /// error). A unit that then reports success must not make the next unit's savepoint
    /// open a fresh transaction whose commit tells both callers "committed".
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_transaction_lost_under_a_unit_fails_its_whole_group() {
        let (db, dir) = fresh_db().await;
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        let lost = tokio::spawn({
            let db = db.clone();
            async move {
                db.write(move |tx| {
                    Box::pin(async move {
                        insert(tx, "unit.lost").await;
                        let _ = wait.await;
                        // What SQLite does by itself on such errors.
                        sqlx::query("ROLLBACK").execute(&mut **tx).await?;
                        Ok(())
                    })
                })
                .await
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        // Queued while the first unit runs: it joins the same group.
        let next = tokio::spawn({
            let db = db.clone();
            async move {
                db.write(|tx| {
                    Box::pin(async move {
                        insert(tx, "unit.next").await;
                        Ok(())
                    })
                })
                .await
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        go.send(()).expect("signal");
        assert!(lost.await.expect("join").is_err(), "its rows are gone");
        assert!(
            next.await.expect("join").is_err(),
            "its group did not commit"
        );
        assert_eq!(count(&db, "unit.lost").await, 0);
        assert_eq!(count(&db, "unit.next").await, 0);
        // The writer goes on.
        the_writer_goes_on(&db).await;
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Many writers at once on a real SQLite file: every unit that succeeds is durable
    /// once its caller hears so, and a unit that fails after writing leaves none of its
    /// rows, while the units committed with it keep theirs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_units_share_commits_and_failures_stay_their_own() {
        let (db, dir) = fresh_db().await;
        let mut tasks = Vec::new();
        for i in 0..120i64 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                db.write(move |tx| {
                    Box::pin(async move {
                        for action in ["unit.a", "unit.b"] {
                            sqlx::query("INSERT INTO audit_log (at, actor_kind, actor_label, action, target, outcome, detail) VALUES (?, 'system', 'test', ?, ?, 'success', '')")
                                .bind(i)
                                .bind(action)
                                .bind(i.to_string())
                                .execute(&mut **tx)
                                .await?;
                        }
                        if i % 7 == 0 {
                            return Err(Error::Invalid("refused on purpose"));
                        }
                        Ok(i)
                    })
                })
                .await
            }));
        }
        let mut ok = 0;
        for (i, t) in tasks.into_iter().enumerate() {
            match t.await.expect("join") {
                Ok(v) => {
                    assert_eq!(v, i as i64);
                    ok += 1;
                }
                Err(Error::Invalid(_)) => assert_eq!(i % 7, 0, "unit {i} failed"),
                Err(e) => panic!("unit {i}: {e}"),
            }
        }
        assert_eq!(ok, 120 - 18);
        // Both rows of every successful unit, none of a failed one.
        assert_eq!(count(&db, "unit.a").await, ok);
        assert_eq!(count(&db, "unit.b").await, ok);
        let failed_rows: i64 = db
            .qs("SELECT COUNT(*) FROM audit_log WHERE at % 7 = 0 AND action LIKE 'unit.%'")
            .fetch_one(db.pool())
            .await
            .expect("count");
        assert_eq!(failed_rows, 0);
        let commits = db
            .committer
            .as_ref()
            .expect("sqlite has a committer")
            .commits();
        assert!(
            commits < ok as u64,
            "{commits} commits for {ok} units: none were shared"
        );
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
