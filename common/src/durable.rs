//! sled databases that cannot deadlock on flush.
//!
//! sled 0.34 can hang for good when several threads flush one database at once
//! (spacejam/sled#1308, #1241): yuqing saw every sled I/O thread stuck in
//! `flush_async → iobuf::make_stable_inner` after a crash-restart with eight sources publishing
//! concurrently. A [`Durable`] therefore owns one flusher thread per database, and that thread is
//! the only caller of `flush`:
//!
//! - callers ask for durability ([`Durable::flush`], [`Durable::flush_blocking`]) and wait;
//! - the thread takes every request waiting, flushes once and answers them all (group commit: one
//!   fsync for many appends, however many tasks append);
//! - between requests it flushes on a timer, so writes nobody waits for (acknowledged offsets,
//!   caches) reach the disk within `interval`; sled's own timer flusher is switched off.
//!
//! Opening a database reads and recovers its log, which can take seconds: [`Durable::open_async`]
//! does it on the blocking pool, never on an async worker.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the flusher writes what no caller waited for.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(200);

/// A sled database with a single flusher. Cheap to clone; the last clone to go stops the
/// flusher after a final flush, so the directory can be opened again at once.
#[derive(Clone)]
pub struct Durable {
    db: sled::Db,
    flusher: Arc<Flusher>,
}

struct Flusher {
    requests: Mutex<Option<Sender<Waiter>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

enum Waiter {
    Async(tokio::sync::oneshot::Sender<Result<(), sled::Error>>),
    Blocking(SyncSender<Result<(), sled::Error>>),
}

impl Waiter {
    fn answer(self, result: Result<(), sled::Error>) {
        // A waiter that gave up (its task was cancelled) does not care about the answer.
        match self {
            Waiter::Async(tx) => drop(tx.send(result)),
            Waiter::Blocking(tx) => drop(tx.send(result)),
        }
    }
}

impl Durable {
    /// Open the database at `path` with sled's defaults. Blocks: use [`Durable::open_async`]
    /// from async code.
    pub fn open(path: &Path) -> Result<Self, sled::Error> {
        Self::open_with(sled::Config::new().path(path), DEFAULT_INTERVAL)
    }

    /// Open `config` (sled's timer flush is turned off; ours runs every `interval`).
    pub fn open_with(config: sled::Config, interval: Duration) -> Result<Self, sled::Error> {
        let db = open_retrying(config.flush_every_ms(None))?;
        let (tx, rx) = std::sync::mpsc::channel();
        let flush_db = db.clone();
        let thread = std::thread::Builder::new()
            .name("sled-flusher".into())
            .spawn(move || run(flush_db, rx, interval))
            .map_err(sled::Error::Io)?;
        Ok(Self {
            db,
            flusher: Arc::new(Flusher {
                requests: Mutex::new(Some(tx)),
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    /// [`Durable::open`] on the blocking pool.
    pub async fn open_async(path: PathBuf) -> Result<Self, sled::Error> {
        Self::open_with_async(sled::Config::new().path(path), DEFAULT_INTERVAL).await
    }

    /// [`Durable::open_with`] on the blocking pool.
    pub async fn open_with_async(
        config: sled::Config,
        interval: Duration,
    ) -> Result<Self, sled::Error> {
        tokio::task::spawn_blocking(move || Self::open_with(config, interval))
            .await
            .map_err(|e| sled::Error::ReportableBug(format!("opening sled panicked: {e}")))?
    }

    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Wait until everything written before this call is on disk.
    pub async fn flush(&self) -> Result<(), sled::Error> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.request(Waiter::Async(tx))?;
        rx.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// [`Durable::flush`] for synchronous code (a blocking thread, a CLI tool).
    pub fn flush_blocking(&self) -> Result<(), sled::Error> {
        let (tx, rx) = sync_channel(1);
        self.request(Waiter::Blocking(tx))?;
        rx.recv().unwrap_or_else(|_| Err(stopped()))
    }

    fn request(&self, waiter: Waiter) -> Result<(), sled::Error> {
        let requests = self
            .flusher
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match requests.as_ref() {
            Some(tx) => tx.send(waiter).map_err(|_| stopped()),
            None => Err(stopped()),
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        // Closing the channel tells the thread to do its last flush and end; joining it means
        // its copy of the database is gone when this returns.
        drop(
            self.requests
                .get_mut()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
        let thread = self
            .thread
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            tracing::error!("the sled flusher thread panicked");
        }
    }
}

fn stopped() -> sled::Error {
    sled::Error::ReportableBug("the sled flusher has stopped".into())
}

/// The flusher thread: the only place that calls `sled::Db::flush` on `db`.
fn run(db: sled::Db, requests: Receiver<Waiter>, interval: Duration) {
    loop {
        let mut waiting = Vec::new();
        match requests.recv_timeout(interval) {
            Ok(w) => waiting.push(w),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                if let Err(e) = db.flush() {
                    tracing::warn!(error = %e, "final flush of a sled database failed");
                }
                return;
            }
        }
        // Everyone who asked while the last flush ran shares the next one.
        waiting.extend(requests.try_iter());
        let result = db.flush().map(drop);
        if let Err(e) = &result {
            tracing::warn!(error = %e, "flushing a sled database failed");
        }
        for w in waiting {
            w.answer(result.clone());
        }
    }
}

/// sled's background threads keep a closed database's file lock for a moment after its last
/// handle is dropped, so reopening in the same process (a restart, a CLI tool then the server)
/// can lose that race under load and fail with "could not acquire lock". Another process
/// holding the directory fails the same way for good, so the wait is bounded (≈ 2 s).
fn open_retrying(config: sled::Config) -> Result<sled::Db, sled::Error> {
    let mut attempts = 0;
    loop {
        match config.open() {
            Err(sled::Error::Io(io))
                if attempts < 40 && io.to_string().contains("acquire lock") =>
            {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn many_concurrent_flushes_share_one_flusher_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let durable = Durable::open_async(dir.path().to_path_buf()).await.unwrap();
            let mut tasks = Vec::new();
            for t in 0..16u32 {
                let d = durable.clone();
                tasks.push(tokio::spawn(async move {
                    let tree = d.db().open_tree("t").unwrap();
                    for i in 0..50u32 {
                        tree.insert(format!("{t}:{i}"), &i.to_be_bytes()).unwrap();
                        d.flush().await.unwrap();
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            durable.flush_blocking().unwrap();
        }
        // Dropping the last clone joined the flusher: the directory opens again at once.
        let again = Durable::open(dir.path()).unwrap();
        assert_eq!(again.db().open_tree("t").unwrap().len(), 16 * 50);
    }
}
