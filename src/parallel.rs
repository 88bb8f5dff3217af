//! Fork-join on a second core, for the products of a mini-batch that take
//! tens of microseconds: too short to wake a sleeping thread for each, so the
//! helper spins for a while before it parks.
//!
//! Work is only ever split into disjoint outputs (rows of a matrix), each
//! computed exactly as one thread would compute it, so results do not depend
//! on the number of threads or on their timing.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How many times an idle thread polls before it starts to yield or park
/// (some hundreds of microseconds); the clock is not read while spinning.
const SPINS: u32 = 1 << 16;

const IDLE: u8 = 0;
const POSTED: u8 = 1;

/// A type-erased `FnOnce` living on the poster's stack.
#[derive(Clone, Copy)]
struct Job {
    data: *mut (),
    call: unsafe fn(*mut ()),
}

// SAFETY: a Job is only run while its poster waits for it, and what it
// points to is `Send` (checked by `join`'s bound).
unsafe impl Send for Job {}

struct Shared {
    state: AtomicU8,
    job: Mutex<Option<Job>>,
    panicked: AtomicBool,
    shutdown: AtomicBool,
}

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
            state: AtomicU8::new(IDLE),
            job: Mutex::new(None),
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
        *self.shared.job.lock().unwrap_or_else(|e| e.into_inner()) = Some(job);
        self.shared.state.store(POSTED, Ordering::Release);
        helper.thread().unpark();
        // `slot` must outlive the helper's use of it: wait, even if `b` panics.
        let result = catch_unwind(AssertUnwindSafe(b));
        let mut spins = 0u32;
        while self.shared.state.load(Ordering::Acquire) != IDLE {
            if spins < SPINS {
                spins += 1;
                std::hint::spin_loop();
            } else {
                thread::yield_now();
            }
        }
        if let Err(payload) = result {
            std::panic::resume_unwind(payload);
        }
        if self.shared.panicked.swap(false, Ordering::AcqRel) {
            panic!("the helper thread panicked");
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
    loop {
        let mut spins = 0u32;
        while shared.state.load(Ordering::Acquire) != POSTED {
            if shared.shutdown.load(Ordering::Acquire) {
                return;
            }
            if spins < SPINS {
                spins += 1;
                std::hint::spin_loop();
            } else {
                thread::park_timeout(Duration::from_millis(10));
            }
        }
        let job = shared.job.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(job) = job {
            // SAFETY: the poster waits in `join` until state is IDLE again,
            // so `job.data` is alive while it runs.
            let result = catch_unwind(AssertUnwindSafe(|| unsafe { (job.call)(job.data) }));
            if result.is_err() {
                shared.panicked.store(true, Ordering::Release);
            }
        }
        shared.state.store(IDLE, Ordering::Release);
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Release);
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
