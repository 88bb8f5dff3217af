//! Fork-join on a second core, for the products of a mini-batch that take
//! a few microseconds: too short to wake a sleeping thread for each, so the
//! helper spins briefly before it parks.
//!
//! Work is only ever split into disjoint outputs (rows of a matrix), each
//! computed exactly as one thread would compute it, so results do not depend
//! on the number of threads, on their timing, or on which thread ran a half.
//!
//! Sharing the cores politely: a posted half that the helper has not taken
//! by the time this thread has finished its own is taken back and run here,
//! so a descheduled helper (another process on the core) never stalls the
//! run; every wait spins for at most `SPIN`, then parks; and where the
//! helper keeps missing its jobs, the pool runs alone for a while (backing
//! off up to `MAX_BACKOFF`), so that its helper parks and leaves the core
//! to whoever else needs it.

use std::any::Any;
use std::cell::{Cell, UnsafeCell};
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

/// How long a waiting thread polls before it parks: longer than the gaps
/// between the joins of a training step, short enough that a thread sharing
/// its core with another process soon gives the core up.
const SPIN: Duration = Duration::from_micros(50);

/// How long a posted job waits for its helper to take it, once this thread
/// is done with its own work, before this thread takes it back.
const GRACE: Duration = Duration::from_micros(20);

/// Jobs in a row the helper must miss (not take in time, or not finish
/// within SPIN of this thread) before the pool runs alone for a while.
const MISSES: u32 = 4;
/// Jobs in a row taken in time after which the backoff starts again short.
const CALM: u32 = 10_000;
const MIN_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_millis(320);

/// No job in the slot; the poster may write one.
const IDLE: u8 = 0;
/// A job waits in the slot; the helper may take it, or the poster take it back.
const POSTED: u8 = 1;
/// The helper runs the job; the poster waits for IDLE.
const RUNNING: u8 = 2;

/// A type-erased `FnOnce` living on the poster's stack.
#[derive(Clone, Copy)]
struct Job {
    data: *mut (),
    call: unsafe fn(*mut ()),
}

/// The job and its state in one cache line, so a hand-over moves one line
/// between the cores.
#[repr(align(128))]
struct Slot {
    state: AtomicU8,
    /// Written by the poster only while the state is IDLE; read by whichever
    /// thread moved the state from POSTED (the helper to RUNNING, the poster
    /// back to IDLE), once, and by no one else.
    job: UnsafeCell<Option<Job>>,
}

struct Shared {
    slot: Slot,
    /// The helper is parked, or about to park: a post must unpark it.
    helper_sleeping: AtomicBool,
    /// The poster is parked, or about to park: the helper must unpark it.
    poster_sleeping: AtomicBool,
    poster: Mutex<Option<Thread>>,
    /// The payload of a panic in a job the helper ran, for the poster.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    shutdown: AtomicBool,
}

// SAFETY: `slot.job` is only accessed as its comment says, each access
// ordered after the state change that grants it (AcqRel compare-exchange,
// Release/Acquire stores and loads). A Job runs only while its poster waits
// in `join`, and what it points to is `Send` (`join`'s bound on `A`).
unsafe impl Sync for Shared {}
// SAFETY: as for Sync; `Job`'s raw pointer is the only non-Send field.
unsafe impl Send for Shared {}

/// A helper thread and the slot it takes jobs from.
struct Worker {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// How a posted job ended.
enum Finished {
    /// The helper had not taken it: the poster must run it.
    TakenBack,
    /// The helper ran it; `parked`: the poster had to park for it.
    Ran { parked: bool },
}

/// Helper threads, none or more. Not `Sync`: one thread posts at a time, and
/// a `join` or `scatter` inside another on the same thread runs inline.
pub(crate) struct Pool {
    workers: Vec<Worker>,
    /// A join is under way on this pool.
    busy: Cell<bool>,
    /// Rounds of jobs the helpers missed, and took in time, in a row.
    misses: Cell<u32>,
    hits: Cell<u32>,
    /// Until when the pool runs alone, and for how long it will next time.
    alone_until: Cell<Option<Instant>>,
    backoff: Cell<Duration>,
    /// Keeps `Pool` `!Sync` (Cell does already; this says so).
    _not_sync: PhantomData<Cell<()>>,
}

impl Pool {
    /// A pool for `threads` threads in all, this one included: with 1 or 0,
    /// everything runs on the caller's thread.
    pub(crate) fn new(threads: usize) -> Pool {
        let workers = (1..threads)
            .map_while(|_| {
                let shared = Arc::new(Shared {
                    slot: Slot {
                        state: AtomicU8::new(IDLE),
                        job: UnsafeCell::new(None),
                    },
                    helper_sleeping: AtomicBool::new(false),
                    poster_sleeping: AtomicBool::new(false),
                    poster: Mutex::new(None),
                    panic: Mutex::new(None),
                    shutdown: AtomicBool::new(false),
                });
                let theirs = Arc::clone(&shared);
                let thread = thread::Builder::new()
                    .name("nndl-helper".into())
                    .spawn(move || helper_loop(&theirs))
                    .ok()?;
                Some(Worker {
                    shared,
                    thread: Some(thread),
                })
            })
            .collect();
        Pool {
            workers,
            busy: Cell::new(false),
            misses: Cell::new(0),
            hits: Cell::new(0),
            alone_until: Cell::new(None),
            backoff: Cell::new(MIN_BACKOFF),
            _not_sync: PhantomData,
        }
    }

    /// Threads in use, this one included.
    pub(crate) fn threads(&self) -> usize {
        1 + self.workers.len()
    }

    /// Whether work posted now would run inline: no helper, a post under
    /// way, or the pool running alone for a while.
    fn inline(&self) -> bool {
        self.workers.is_empty() || self.busy.get() || self.alone()
    }

    /// Runs `a` and `b` and returns when both are done: `a` on the first
    /// helper if it takes it in time, else here after `b`. A panic in either
    /// half is raised here, with its message, once both have finished.
    pub(crate) fn join<A: FnOnce() + Send, B: FnOnce()>(&self, a: A, b: B) {
        if self.inline() {
            a();
            b();
            return;
        }
        self.busy.set(true);
        let _busy = Reset(&self.busy);
        let mut slot = Some(a);
        // Every access to `slot` from here on goes through `data`: a
        // reference to it would assert exclusive access while the helper
        // may hold the job.
        let data = &raw mut slot;
        let worker = &self.workers[0];
        // SAFETY: `slot` lives on this stack until `finish` below has seen
        // the job done or taken back, and this thread touches it only then.
        unsafe { post(worker, data.cast(), call_once::<A>) };
        let result = catch_unwind(AssertUnwindSafe(b));
        let run_here = || {
            // SAFETY: `finish` runs this only once it has taken the job
            // back, so the helper never has it.
            unsafe { (*data).take() }.map_or((), |a| a())
        };
        let (missed, own) = self.finish(worker, run_here);
        self.count(missed);
        raise([result.err(), own, helper_panic(worker)]);
    }

    /// Runs `f` on every item, the first here and each other on a helper of
    /// its own (one item a thread: give at most `threads()` items; more run
    /// here, after the first). Returns when all are done; a panic is raised
    /// here, with its message, once every item has finished.
    pub(crate) fn scatter<T: Send, G: Fn(T) + Sync>(&self, items: Vec<T>, f: G) {
        if items.len() < 2 || self.inline() {
            items.into_iter().for_each(f);
            return;
        }
        self.busy.set(true);
        let _busy = Reset(&self.busy);
        let f = &f;
        let mut items = items.into_iter();
        let first = items.next();
        let mut jobs: Vec<Option<_>> = items.map(|item| Some(move || f(item))).collect();
        let (count, call) = (jobs.len(), call_once_of(&jobs));
        let posted = count.min(self.workers.len());
        // Every access to the jobs from here on goes through `base` (a
        // reference to `jobs` would touch jobs the helpers hold), and the
        // vector is neither moved nor resized until it is dropped.
        let base = jobs.as_mut_ptr();
        for (i, worker) in self.workers[..posted].iter().enumerate() {
            // SAFETY: job i lives in `jobs` until `finish` below has seen it
            // done or taken back; this thread touches it only then.
            unsafe { post(worker, base.add(i).cast(), call) };
        }
        let run = |i: usize| {
            // SAFETY: `run` is called for job i only when it was never
            // posted, or after `finish` took it back: no other thread has it.
            unsafe { (*base.add(i)).take().map_or((), |job| job()) }
        };
        // The first panic, raised once every item has finished.
        let mut panic = catch_unwind(AssertUnwindSafe(|| first.map_or((), f))).err();
        for i in posted..count {
            let own = catch_unwind(AssertUnwindSafe(|| run(i))).err();
            panic = panic.or(own);
        }
        let mut missed = false;
        for (i, worker) in self.workers[..posted].iter().enumerate() {
            let (late, own) = self.finish(worker, || run(i));
            missed |= late;
            // Always take the helper's payload: a stale one would surface
            // in a later join.
            let theirs = helper_panic(worker);
            panic = panic.or(own).or(theirs);
        }
        drop(jobs);
        self.count(missed);
        raise([panic]);
    }

    /// After this thread's own work: takes the job posted to `worker` back
    /// and runs it by `run_here` if the helper has not taken it, else waits
    /// for the helper. Returns whether the helper missed it (late to take
    /// it, or this thread had to park), and the payload of a panic here.
    fn finish(
        &self,
        worker: &Worker,
        run_here: impl FnOnce(),
    ) -> (bool, Option<Box<dyn Any + Send>>) {
        match take_back(worker) {
            Finished::TakenBack => (true, catch_unwind(AssertUnwindSafe(run_here)).err()),
            Finished::Ran { parked } => (parked, None),
        }
    }

    /// Whether the pool runs alone for now.
    fn alone(&self) -> bool {
        match self.alone_until.get() {
            Some(until) if Instant::now() < until => true,
            Some(_) => {
                self.alone_until.set(None);
                false
            }
            None => false,
        }
    }

    /// Counts a round of jobs the helpers missed, or took in time; after
    /// MISSES missed rounds in a row the pool runs alone for a backoff that
    /// doubles each time.
    fn count(&self, missed: bool) {
        if !missed {
            // Many rounds in a row taken in time: contention has passed, so
            // the next episode starts from the shortest backoff.
            self.misses.set(0);
            let hits = self.hits.get() + 1;
            self.hits.set(hits);
            if hits >= CALM {
                self.backoff.set(MIN_BACKOFF);
            }
            return;
        }
        self.hits.set(0);
        let misses = self.misses.get() + 1;
        self.misses.set(misses);
        if misses >= MISSES {
            let backoff = self.backoff.get();
            self.alone_until.set(Some(Instant::now() + backoff));
            self.backoff.set((backoff * 2).min(MAX_BACKOFF));
            self.misses.set(0);
        }
    }
}

/// Posts the job at `data` to `worker`, run by `call`.
///
/// # Safety
/// `data` points to a live `Option<A>` for the `A` that `call` takes, which
/// stays alive and untouched by the poster until `take_back` on this worker
/// has returned; the worker's state is IDLE (every post is finished before
/// the next, as `Pool::busy` sees to).
unsafe fn post(worker: &Worker, data: *mut (), call: unsafe fn(*mut ())) {
    let shared = &*worker.shared;
    debug_assert_eq!(shared.slot.state.load(Ordering::Relaxed), IDLE);
    // SAFETY: the state is IDLE (the caller's word), so no thread reads the
    // job now.
    unsafe { *shared.slot.job.get() = Some(Job { data, call }) };
    shared.slot.state.store(POSTED, Ordering::SeqCst);
    // Either the helper sees POSTED before it parks, or this sees it sleeping.
    if shared.helper_sleeping.load(Ordering::SeqCst)
        && let Some(thread) = &worker.thread
    {
        thread.thread().unpark();
    }
}

/// Takes the job posted to `worker` back if the helper has not taken it;
/// else waits until the helper has run it: spins for up to SPIN, then parks
/// until it unparks this thread.
fn take_back(worker: &Worker) -> Finished {
    let shared = &*worker.shared;
    // A spinning helper takes a job within a microsecond or so: give it
    // GRACE before taking the job back, so that a helper merely slower to
    // start than this thread's half does not lose its share.
    let start = Instant::now();
    let mut polls = 0u32;
    while shared.slot.state.load(Ordering::Acquire) == POSTED {
        polls = polls.wrapping_add(1);
        if !polls.is_multiple_of(16) || start.elapsed() < GRACE {
            std::hint::spin_loop();
            continue;
        }
        let taken_back = shared
            .slot
            .state
            .compare_exchange(POSTED, IDLE, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if taken_back {
            // SAFETY: this thread moved the state from POSTED, so the
            // helper never takes this job.
            unsafe { *shared.slot.job.get() = None };
            return Finished::TakenBack;
        }
    }
    let idle = || shared.slot.state.load(Ordering::Acquire) == IDLE;
    let start = Instant::now();
    let mut polls = 0u32;
    let mut parked = false;
    while !idle() {
        polls = polls.wrapping_add(1);
        if !polls.is_multiple_of(64) || start.elapsed() < SPIN {
            std::hint::spin_loop();
            continue;
        }
        *shared.poster.lock().unwrap_or_else(PoisonError::into_inner) = Some(thread::current());
        shared.poster_sleeping.store(true, Ordering::SeqCst);
        // Either the helper sees this sleeping after it sets IDLE, or this
        // sees IDLE here.
        if !idle() {
            parked = true;
            thread::park_timeout(Duration::from_millis(10));
        }
        shared.poster_sleeping.store(false, Ordering::SeqCst);
    }
    Finished::Ran { parked }
}

/// The payload of a panic in the last job `worker` ran, if any.
fn helper_panic(worker: &Worker) -> Option<Box<dyn Any + Send>> {
    let mut panic = worker
        .shared
        .panic
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    panic.take()
}

/// Raises the first of `panics`, if any, with its payload.
fn raise(panics: impl IntoIterator<Item = Option<Box<dyn Any + Send>>>) {
    if let Some(payload) = panics.into_iter().flatten().next() {
        resume_unwind(payload);
    }
}

/// `call_once` for the element type of `jobs`.
fn call_once_of<A: FnOnce()>(_jobs: &[Option<A>]) -> unsafe fn(*mut ()) {
    call_once::<A>
}

/// Clears a flag when dropped, on unwinding too.
struct Reset<'a>(&'a Cell<bool>);

impl Drop for Reset<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// # Safety
/// `data` points to a live `Option<A>` that no other thread accesses while
/// this runs.
unsafe fn call_once<A: FnOnce()>(data: *mut ()) {
    // SAFETY: by the caller's word.
    let slot = unsafe { &mut *data.cast::<Option<A>>() };
    if let Some(f) = slot.take() {
        f();
    }
}

fn helper_loop(shared: &Shared) {
    let ready = || {
        shared.slot.state.load(Ordering::Acquire) == POSTED
            || shared.shutdown.load(Ordering::Acquire)
    };
    loop {
        let start = Instant::now();
        let mut polls = 0u32;
        while !ready() {
            polls = polls.wrapping_add(1);
            if !polls.is_multiple_of(64) || start.elapsed() < SPIN {
                std::hint::spin_loop();
                continue;
            }
            shared.helper_sleeping.store(true, Ordering::SeqCst);
            if !ready() {
                thread::park_timeout(Duration::from_millis(100));
            }
            shared.helper_sleeping.store(false, Ordering::SeqCst);
        }
        if shared.shutdown.load(Ordering::Acquire) {
            return;
        }
        if shared
            .slot
            .state
            .compare_exchange(POSTED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            continue; // the poster took it back
        }
        // SAFETY: this thread moved the state from POSTED to RUNNING, so the
        // poster neither writes nor takes the job until it is IDLE again.
        let job = unsafe { (*shared.slot.job.get()).take() };
        if let Some(job) = job {
            // SAFETY: the poster waits in `join` until the state is IDLE
            // again, so `job.data` is alive, and touched by no one else,
            // while it runs.
            let result = catch_unwind(AssertUnwindSafe(|| unsafe { (job.call)(job.data) }));
            if let Err(payload) = result {
                *shared.panic.lock().unwrap_or_else(PoisonError::into_inner) = Some(payload);
            }
        }
        shared.slot.state.store(IDLE, Ordering::SeqCst);
        if shared.poster_sleeping.load(Ordering::SeqCst) {
            let poster = shared.poster.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(poster) = poster.as_ref() {
                poster.unpark();
            }
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for worker in &mut self.workers {
            worker.shared.shutdown.store(true, Ordering::SeqCst);
            if let Some(thread) = worker.thread.take() {
                thread.thread().unpark();
                let _ = thread.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Rounds of a test loop: fewer under Miri, which is slow.
    fn rounds(n: usize) -> usize {
        if cfg!(miri) { n.min(20) } else { n }
    }

    #[test]
    fn join_runs_both_halves() {
        for threads in [1, 2] {
            let pool = Pool::new(threads);
            let mut data = vec![0u64; 100];
            let n = rounds(500) as u64;
            for round in 0..n {
                let (left, right) = data.split_at_mut(40);
                pool.join(
                    || left.iter_mut().for_each(|x| *x += round),
                    || right.iter_mut().for_each(|x| *x += 2 * round),
                );
            }
            let total: u64 = (0..n).sum();
            assert!(data[..40].iter().all(|&x| x == total));
            assert!(data[40..].iter().all(|&x| x == 2 * total));
        }
    }

    #[test]
    fn a_parked_helper_takes_the_next_job() {
        let pool = Pool::new(2);
        let mut data = [0u32; 2];
        for round in 1..=3 {
            // Longer than SPIN: the helper parks in between.
            thread::sleep(SPIN * 20);
            let (left, right) = data.split_at_mut(1);
            pool.join(|| left[0] += round, || right[0] += 2 * round);
        }
        assert_eq!(data, [6, 12]);
    }

    /// Every item runs once, on any number of threads, with more items than
    /// threads too.
    #[test]
    fn scatter_runs_every_item_once() {
        for threads in [1, 2, 3, 4] {
            let pool = Pool::new(threads);
            let mut data = vec![0u64; 50];
            let n = rounds(300) as u64;
            for round in 0..n {
                let items: Vec<(u64, &mut [u64])> = data
                    .chunks_mut(10)
                    .enumerate()
                    .map(|(i, chunk)| (i as u64 + 1, chunk))
                    .collect();
                pool.scatter(items, |(i, chunk)| {
                    chunk.iter_mut().for_each(|x| *x += round * i)
                });
            }
            let total: u64 = (0..n).sum();
            for (i, chunk) in data.chunks(10).enumerate() {
                assert!(
                    chunk.iter().all(|&x| x == total * (i as u64 + 1)),
                    "{threads} threads"
                );
            }
        }
    }

    #[test]
    fn a_panicking_item_is_reported_with_its_message() {
        let pool = Pool::new(4);
        for _ in 0..rounds(50) {
            let result = catch_unwind(AssertUnwindSafe(|| {
                pool.scatter(vec![0, 1, 2, 3], |i| {
                    if i == 2 {
                        panic!("boom in item {i}")
                    }
                })
            }));
            assert_eq!(message(result.unwrap_err()), "boom in item 2");
        }
        let mut ran = [false; 3];
        pool.scatter(ran.iter_mut().collect(), |r| *r = true);
        assert_eq!(ran, [true; 3]);
    }

    /// A join inside a join runs all three closures, exactly once each.
    #[test]
    fn nested_joins_run_every_closure() {
        let pool = Pool::new(2);
        for _ in 0..rounds(2000) {
            let ran = [
                AtomicUsize::new(0),
                AtomicUsize::new(0),
                AtomicUsize::new(0),
            ];
            pool.join(
                || {
                    ran[0].fetch_add(1, Ordering::Relaxed);
                },
                || {
                    pool.join(
                        || {
                            ran[1].fetch_add(1, Ordering::Relaxed);
                        },
                        || {
                            ran[2].fetch_add(1, Ordering::Relaxed);
                        },
                    )
                },
            );
            assert!(ran.iter().all(|r| r.load(Ordering::Relaxed) == 1));
        }
    }

    /// Pools on several threads at once (each thread its own pool: `Pool`
    /// is not `Sync`, so it cannot be shared) each run every job.
    #[test]
    fn concurrent_pools_run_every_job() {
        let total = AtomicUsize::new(0);
        let per_thread = rounds(500);
        thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    let pool = Pool::new(2);
                    for _ in 0..per_thread {
                        pool.join(
                            || {
                                total.fetch_add(1, Ordering::Relaxed);
                            },
                            || {
                                total.fetch_add(1, Ordering::Relaxed);
                            },
                        );
                    }
                });
            }
        });
        assert_eq!(total.load(Ordering::Relaxed), 3 * 2 * per_thread);
    }

    fn message(payload: Box<dyn Any + Send>) -> String {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default()
    }

    #[test]
    fn a_panicking_half_is_reported_with_its_message() {
        let pool = Pool::new(2);
        for _ in 0..rounds(50) {
            let result = catch_unwind(AssertUnwindSafe(|| {
                pool.join(|| panic!("boom on the helper"), || ())
            }));
            assert_eq!(message(result.unwrap_err()), "boom on the helper");
            let result = catch_unwind(AssertUnwindSafe(|| {
                pool.join(|| (), || panic!("boom {}", "here"))
            }));
            assert_eq!(message(result.unwrap_err()), "boom here");
        }
        // The pool still works afterwards.
        let mut x = 0;
        pool.join(|| (), || x += 1);
        assert_eq!(x, 1);
    }
}
