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

/// One helper thread, or none. Not `Sync`: one thread posts at a time, and
/// a `join` inside a `join` on the same thread runs both halves inline.
pub(crate) struct Pool {
    shared: Arc<Shared>,
    helper: Option<JoinHandle<()>>,
    /// A join is under way on this pool.
    busy: Cell<bool>,
    /// Jobs the helper missed, and took in time, in a row.
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
    /// everything runs on the caller's thread. More than two are not used
    /// (see `threads_used`).
    pub(crate) fn new(threads: usize) -> Pool {
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
        let helper = (threads >= 2).then(|| {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("nndl-helper".into())
                .spawn(move || helper_loop(&shared))
                .ok()
        });
        Pool {
            shared,
            helper: helper.flatten(),
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
        1 + self.helper.is_some() as usize
    }

    /// Runs `a` and `b` and returns when both are done: `a` on the helper if
    /// it takes it in time, else here after `b`. A panic in either half is
    /// raised here, with its message, once both have finished.
    pub(crate) fn join<A: FnOnce() + Send, B: FnOnce()>(&self, a: A, b: B) {
        let Some(helper) = self
            .helper
            .as_ref()
            .filter(|_| !self.busy.get() && !self.alone())
        else {
            a();
            b();
            return;
        };
        self.busy.set(true);
        let _busy = Reset(&self.busy);
        let mut slot = Some(a);
        let job = Job {
            data: (&mut slot as *mut Option<A>).cast(),
            call: call_once::<A>,
        };
        let shared = &*self.shared;
        debug_assert_eq!(shared.slot.state.load(Ordering::Relaxed), IDLE);
        // SAFETY: the state is IDLE (every join leaves it so before it
        // returns, and `busy` keeps joins on this pool one at a time), so no
        // thread reads the job now.
        unsafe { *shared.slot.job.get() = Some(job) };
        shared.slot.state.store(POSTED, Ordering::SeqCst);
        // Either the helper sees POSTED before it parks, or this sees it sleeping.
        if shared.helper_sleeping.load(Ordering::SeqCst) {
            helper.thread().unpark();
        }
        // `slot` must outlive the helper's use of it: wait, even if `b` panics.
        let result = catch_unwind(AssertUnwindSafe(b));
        let taken_back = shared
            .slot
            .state
            .compare_exchange(POSTED, IDLE, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        let mut own_panic = None;
        let mut missed = taken_back;
        if taken_back {
            // SAFETY: this thread moved the state from POSTED, so the helper
            // never takes this job; `slot` is alive on this stack.
            unsafe { (*shared.slot.job.get()) = None };
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| {
                if let Some(a) = slot.take() {
                    a();
                }
            })) {
                own_panic = Some(payload);
            }
        } else {
            missed = self.wait_for_helper();
        }
        self.count(missed);
        if let Err(payload) = result {
            resume_unwind(payload);
        }
        if let Some(payload) = own_panic {
            resume_unwind(payload);
        }
        let helper_panic = shared
            .panic
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(payload) = helper_panic {
            resume_unwind(payload);
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

    /// Counts a job the helper missed, or took in time; after MISSES misses
    /// in a row the pool runs alone for a backoff that doubles each time.
    fn count(&self, missed: bool) {
        if !missed {
            // Many jobs in a row taken in time: contention has passed, so
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

    /// Waits until the helper has finished the job it took: spins for up to
    /// SPIN, then parks until it unparks this thread. Returns whether it
    /// had to park.
    fn wait_for_helper(&self) -> bool {
        let shared = &*self.shared;
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
            // Either the helper sees this sleeping after it sets IDLE, or
            // this sees IDLE here.
            if !idle() {
                parked = true;
                thread::park_timeout(Duration::from_millis(10));
            }
            shared.poster_sleeping.store(false, Ordering::SeqCst);
        }
        parked
    }
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
        self.shared.shutdown.store(true, Ordering::SeqCst);
        if let Some(helper) = self.helper.take() {
            helper.thread().unpark();
            let _ = helper.join();
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
