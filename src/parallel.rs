//! Fork-join on a second core, for the products of a mini-batch that take
//! a few microseconds: too short to wake a sleeping thread for each, so the
//! helper spins for a while before it parks.
//!
//! Work is only ever split into disjoint outputs (rows of a matrix), each
//! computed exactly as one thread would compute it, so results do not depend
//! on the number of threads or on their timing.

use std::cell::UnsafeCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long an idle thread polls before it yields or parks: longer than the
/// gaps between the joins of a training step, short enough that a thread
/// waiting for a descheduled one (more threads than cores) soon gives way.
const SPIN: Duration = Duration::from_micros(100);

const IDLE: u8 = 0;
const POSTED: u8 = 1;

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
    /// Written by the poster only while the state is IDLE, read by the
    /// helper only while it is POSTED.
    job: UnsafeCell<Option<Job>>,
}

struct Shared {
    slot: Slot,
    /// The helper is parked, or about to park: a post must unpark it.
    sleeping: AtomicBool,
    panicked: AtomicBool,
    shutdown: AtomicBool,
}

// SAFETY: `slot.job` is only accessed as its comment says, ordered by the
// Release/Acquire of `slot.state`; a Job is only run while its poster waits
// for it, and what it points to is `Send` (checked by `join`'s bound).
unsafe impl Sync for Shared {}
unsafe impl Send for Shared {}

/// One helper thread, or none.
pub struct Pool {
    shared: Arc<Shared>,
    helper: Option<JoinHandle<()>>,
}

impl Pool {
    /// A pool for `threads` threads in all, this one included: with 1 or 0,
    /// everything runs on the caller's thread.
    pub fn new(threads: usize) -> Pool {
        let shared = Arc::new(Shared {
            slot: Slot {
                state: AtomicU8::new(IDLE),
                job: UnsafeCell::new(None),
            },
            sleeping: AtomicBool::new(false),
            panicked: AtomicBool::new(false),
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
        }
    }

    /// A pool with one thread per core.
    pub fn for_machine() -> Pool {
        Pool::new(thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// Threads in use, this one included.
    pub fn threads(&self) -> usize {
        1 + self.helper.is_some() as usize
    }

    /// Runs `a` on the helper and `b` here, and returns when both are done.
    pub fn join<A: FnOnce() + Send, B: FnOnce()>(&self, a: A, b: B) {
        let Some(helper) = &self.helper else {
            a();
            b();
            return;
        };
        let mut slot = Some(a);
        let job = Job {
            data: (&mut slot as *mut Option<A>).cast(),
            call: call_once::<A>,
        };
        let shared = &*self.shared;
        // SAFETY: the state is IDLE (every join waits for it), so the helper
        // does not read the job now.
        unsafe { *shared.slot.job.get() = Some(job) };
        shared.slot.state.store(POSTED, Ordering::SeqCst);
        // Either the helper sees POSTED before it parks, or this sees it sleeping.
        if shared.sleeping.load(Ordering::SeqCst) {
            helper.thread().unpark();
        }
        // `slot` must outlive the helper's use of it: wait, even if `b` panics.
        let result = catch_unwind(AssertUnwindSafe(b));
        wait_until(
            || shared.slot.state.load(Ordering::Acquire) == IDLE,
            thread::yield_now,
        );
        if let Err(payload) = result {
            std::panic::resume_unwind(payload);
        }
        if shared.panicked.swap(false, Ordering::AcqRel) {
            panic!("the helper thread panicked");
        }
    }
}

/// Polls `done` for up to SPIN, then calls `idle` between polls.
fn wait_until(done: impl Fn() -> bool, idle: impl Fn()) {
    let mut start = None;
    let mut spins = 0u32;
    while !done() {
        spins = spins.wrapping_add(1);
        if !spins.is_multiple_of(64) {
            std::hint::spin_loop();
        } else if start.get_or_insert_with(Instant::now).elapsed() >= SPIN {
            idle();
        }
    }
}

/// SAFETY (for callers): `data` points to a live `Option<A>`.
unsafe fn call_once<A: FnOnce()>(data: *mut ()) {
    // SAFETY: by the caller's word.
    let slot = unsafe { &mut *data.cast::<Option<A>>() };
    if let Some(f) = slot.take() {
        f();
    }
}

fn helper_loop(shared: &Shared) {
    let posted = || {
        shared.slot.state.load(Ordering::Acquire) == POSTED
            || shared.shutdown.load(Ordering::Acquire)
    };
    loop {
        wait_until(posted, || {
            shared.sleeping.store(true, Ordering::SeqCst);
            if shared.slot.state.load(Ordering::SeqCst) != POSTED {
                thread::park_timeout(Duration::from_millis(10));
            }
            shared.sleeping.store(false, Ordering::SeqCst);
        });
        if shared.slot.state.load(Ordering::Acquire) != POSTED {
            return; // shut down
        }
        // SAFETY: the state is POSTED, so the poster does not write the job now.
        let job = unsafe { (*shared.slot.job.get()).take() };
        if let Some(job) = job {
            // SAFETY: the poster waits in `join` until the state is IDLE
            // again, so `job.data` is alive while it runs.
            let result = catch_unwind(AssertUnwindSafe(|| unsafe { (job.call)(job.data) }));
            if result.is_err() {
                shared.panicked.store(true, Ordering::Release);
            }
        }
        shared.slot.state.store(IDLE, Ordering::Release);
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

    #[test]
    fn join_runs_both_halves() {
        for threads in [1, 2] {
            let pool = Pool::new(threads);
            let mut data = vec![0u64; 1000];
            for round in 0..500u64 {
                let (left, right) = data.split_at_mut(400);
                pool.join(
                    || left.iter_mut().for_each(|x| *x += round),
                    || right.iter_mut().for_each(|x| *x += 2 * round),
                );
            }
            let total: u64 = (0..500).sum();
            assert!(data[..400].iter().all(|&x| x == total));
            assert!(data[400..].iter().all(|&x| x == 2 * total));
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

    #[test]
    fn a_panicking_half_is_reported_not_hung() {
        let pool = Pool::new(2);
        let result = catch_unwind(AssertUnwindSafe(|| pool.join(|| panic!("boom"), || ())));
        assert!(result.is_err());
        // The pool still works afterwards.
        let mut x = 0;
        pool.join(|| (), || x += 1);
        assert_eq!(x, 1);
    }
}
