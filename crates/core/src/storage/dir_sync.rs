//! Making new directory entries durable, shared between concurrent writers.
//!
//! A new blob is durable only once its directory entry is: once the file has been
//! created or renamed into place, the directory is synced. That sync is a device flush, and with one per upload it was the
//! largest single cost of small uploads (a quarter of their throughput). One sync of a
//! directory covers every entry made in it before the sync began, so writers to the same
//! directory share syncs: a writer waits for a sync that started after its own change,
//! or starts one when none is running. Uploads that arrive together land in the same
//! directory (the blob store picks the shard by time), so under load one flush serves
//! many of them.

use std::io;
use std::sync::{Condvar, Mutex, PoisonError};

/// One gate per directory (the blob store has 256 shard directories).
#[derive(Debug)]
pub struct DirSyncs {
    gates: Vec<Gate>,
}

#[derive(Debug, Default)]
struct Gate {
    state: Mutex<State>,
    finished: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// Syncs started so far; the number of a sync is its place in this count.
    started: u64,
    /// The number of the last sync that completed successfully (syncs of one gate run
    /// one at a time, so they complete in the order they started).
    succeeded: u64,
    /// The number and error of the last sync that failed.
    failed: Option<(u64, String)>,
    running: bool,
}

impl DirSyncs {
    pub fn new(directories: usize) -> Self {
        Self {
            gates: (0..directories).map(|_| Gate::default()).collect(),
        }
    }

    /// Returns once a sync of directory `index` that began after this call has
    /// succeeded; `sync` is the one that syncs it, run here or by another writer.
    /// Blocking: call it on a blocking thread. A failed sync fails every writer it was
    /// to cover: Linux reports a write-back error to one sync only, so a later sync that
    /// succeeds proves nothing about the entries made before the failure.
    pub fn sync(&self, index: usize, sync: impl Fn() -> io::Result<()>) -> io::Result<()> {
        let gate = self
            .gates
            .get(index)
            .ok_or_else(|| io::Error::other("no such directory gate"))?;
        let mut state = gate.state.lock().unwrap_or_else(PoisonError::into_inner);
        // A sync numbered above this one starts after the caller's change was made.
        let needed = state.started + 1;
        loop {
            if let Some((number, error)) = &state.failed
                && *number >= needed
            {
                return Err(io::Error::other(format!(
                    "syncing the directory failed: {error}"
                )));
            }
            if state.succeeded >= needed {
                return Ok(());
            }
            if !state.running {
                state.running = true;
                state.started += 1;
                let number = state.started;
                drop(state);
                // A panicking sync must not leave the gate marked running for ever.
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(&sync))
                    .unwrap_or_else(|_| Err(io::Error::other("directory sync panicked")));
                let mut state = gate.state.lock().unwrap_or_else(PoisonError::into_inner);
                state.running = false;
                match &result {
                    Ok(()) => state.succeeded = number,
                    Err(e) => state.failed = Some((number, e.to_string())),
                }
                gate.finished.notify_all();
                return result;
            }
            state = gate
                .finished
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

#[cfg(test)]
// The tests pause in real time to make threads meet.
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    /// Events in one global order: a writer's change, the start and the end of a sync.
    #[derive(Default)]
    struct Log {
        clock: AtomicU64,
        syncs: Mutex<Vec<(u64, u64)>>,
    }

    impl Log {
        fn tick(&self) -> u64 {
            self.clock.fetch_add(1, Ordering::SeqCst) + 1
        }
        fn sync(&self) -> io::Result<()> {
            let start = self.tick();
            std::thread::sleep(Duration::from_millis(15));
            let end = self.tick();
            self.syncs.lock().expect("log").push((start, end));
            Ok(())
        }
    }

    #[test]
    fn concurrent_writers_share_syncs_and_each_is_covered_by_a_later_one() {
        let syncs = Arc::new(DirSyncs::new(4));
        let log = Arc::new(Log::default());
        let writers: Vec<_> = (0..12)
            .map(|_| {
                let (syncs, log) = (Arc::clone(&syncs), Arc::clone(&log));
                std::thread::spawn(move || {
                    let changed = log.tick();
                    syncs.sync(2, || log.sync()).expect("sync");
                    let returned = log.tick();
                    (changed, returned)
                })
            })
            .collect();
        let outcomes: Vec<_> = writers
            .into_iter()
            .map(|w| w.join().expect("writer"))
            .collect();
        let done = log.syncs.lock().expect("log").clone();
        for (changed, returned) in outcomes {
            assert!(
                done.iter()
                    .any(|&(start, end)| start > changed && end < returned),
                "writer changed at {changed}, returned at {returned}, syncs {done:?}"
            );
        }
        assert!(
            done.len() < 12,
            "twelve writers at once share syncs: {} syncs",
            done.len()
        );
    }

    /// Two writers wait for the same sync, which fails: both hear of it, and neither
    /// takes a later sync on a fresh handle as proof.
    #[test]
    fn a_failed_sync_fails_every_writer_it_was_to_cover() {
        let syncs = Arc::new(DirSyncs::new(1));
        let calls = Arc::new(AtomicU64::new(0));
        let sync = {
            let calls = Arc::clone(&calls);
            move || match calls.fetch_add(1, Ordering::SeqCst) {
                0 => {
                    std::thread::sleep(Duration::from_millis(80));
                    Ok(())
                }
                1 => {
                    std::thread::sleep(Duration::from_millis(20));
                    Err(io::Error::other("write-back failed"))
                }
                _ => Ok(()),
            }
        };
        let first = {
            let (syncs, sync) = (Arc::clone(&syncs), sync.clone());
            std::thread::spawn(move || syncs.sync(0, sync))
        };
        // Both arrive while the first sync runs, so both need the second one.
        std::thread::sleep(Duration::from_millis(20));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let (syncs, sync) = (Arc::clone(&syncs), sync.clone());
                std::thread::spawn(move || syncs.sync(0, sync))
            })
            .collect();
        first
            .join()
            .expect("first")
            .expect("the first sync succeeds");
        for w in waiters {
            let err = w.join().expect("waiter").expect_err("its sync failed");
            assert!(err.to_string().contains("write-back failed"), "{err}");
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "no third sync was taken as proof"
        );
    }

    #[test]
    fn a_failed_sync_fails_its_writer_and_the_next_writer_syncs_again() {
        let syncs = DirSyncs::new(1);
        let calls = AtomicU64::new(0);
        let failing = || {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(io::Error::other("disk gone"))
        };
        assert!(syncs.sync(0, failing).is_err());
        let ok = || {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(())
        };
        syncs.sync(0, ok).expect("second writer syncs itself");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // A panicking sync is an error, and the gate stays usable.
        assert!(syncs.sync(0, || panic!("bug")).is_err());
        syncs.sync(0, ok).expect("gate still usable");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert!(syncs.sync(7, ok).is_err(), "unknown directory");
    }
}
