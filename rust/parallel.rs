//! The thread pool: rayon's global pool, with Python's importing thread as one of its workers,
//! and a way to split work that keeps threads awake between the ops of a loop.
//!
//! A parallel op called from a thread outside the pool is handed to the pool and the caller
//! sleeps until it is done: two workers must wake for a split in two. As a worker, the caller
//! runs the first part itself and wakes one.
//!
//! Waking a thread whose vCPU has gone idle took 1-2 ms on the benchmark VM (futex, then the
//! hypervisor scheduling the vCPU again): as long as half of a 1024x784x256 product. With
//! `rayon::join` both sides pay it, the helper to start and the caller to resume after the
//! helper's half, so two threads ran an MLP eval pass no faster than one. `for_each_part` is
//! the OpenMP answer: the caller spins instead of sleeping while the other parts finish, and a
//! helper that has finished spins for `LINGER`, picking up any pool work, so the next op finds
//! it awake (MLP eval at batch 1024: 3.0 -> 1.7 ms, PyTorch 2.1 ms).
//!
//! Spinning after every op was also tried, as a job queued by the caller after each op; it
//! made things slower, because the caller still slept in the joins.

use std::cell::Cell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Whether the importing thread became worker 0 of the pool (it must never linger: it has
/// Python to run).
static CALLER_IS_WORKER_0: AtomicBool = AtomicBool::new(false);

/// Makes the calling thread one of the global pool's workers. Does nothing when the global
/// pool already exists (an embedding program built it).
pub fn init() {
    if rayon::ThreadPoolBuilder::new().use_current_thread().build_global().is_ok() {
        CALLER_IS_WORKER_0.store(true, Ordering::Relaxed);
    }
}

thread_local! {
    /// The one-thread pool of a thread outside the global pool (see `ensure_worker`).
    static OWN_POOL: std::cell::OnceCell<Option<rayon::ThreadPool>> = const { std::cell::OnceCell::new() };
}

/// Makes sure the calling thread's parallel ops can run. A thread outside the global pool hands
/// its parallel ops to the pool and sleeps until they are done; when the pool is the importing
/// thread alone (`RAYON_NUM_THREADS=1`), they run only when that thread next runs pool work,
/// which never comes while it waits for this thread (a DDP gradient hook waiting on the
/// communication thread, a `Thread.join()`): a deadlock. Such a thread becomes the worker of a
/// one-thread pool of its own instead, for its lifetime; with one thread nothing was parallel.
pub fn ensure_worker() {
    if rayon::current_thread_index().is_some()
        || !CALLER_IS_WORKER_0.load(Ordering::Relaxed)
        || rayon::current_num_threads() != 1
    {
        return;
    }
    OWN_POOL.with(|p| {
        p.get_or_init(|| rayon::ThreadPoolBuilder::new().num_threads(1).use_current_thread().build().ok());
    });
}

/// `f(0) .. f(parts - 1)` on the calling thread and the pool's others, each part claimed by
/// whichever thread gets to it first; returns when all are done.
///
/// Unlike `rayon::join`, the caller never sleeps here: when it runs out of parts it spins
/// until the others finish theirs. A caller that sleeps in a join has to be woken when the
/// last part ends, and waking a thread whose vCPU went idle took 1-2 ms on the benchmark VM,
/// as long as a 1024x784x256 product half. Parts a late helper has not claimed yet are taken
/// by the caller instead of waited for.
pub fn for_each_part(parts: usize, f: &(dyn Fn(usize) + Sync)) {
    let helpers = rayon::current_num_threads().min(parts).saturating_sub(1);
    if helpers == 0 {
        (0..parts).for_each(f);
        return;
    }
    // SAFETY: (the lifetime erasure) `f` is only called for a claimed part, every claimed
    // part is counted in `finished` whatever happens in it, and this function does not return
    // before all `parts` are counted; a helper that starts later claims nothing.
    let f: &'static (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(f) };
    let caller_cpu = placement::current_cpu();
    let shared = Arc::new(Parts { next: AtomicUsize::new(0), finished: AtomicUsize::new(0), started: AtomicUsize::new(0), parts, f, panic: Mutex::new(None) });
    for _ in 0..helpers {
        let s = Arc::clone(&shared);
        rayon::spawn(move || {
            // A job that comes after its op's parts are all claimed (a late helper, or the
            // caller itself popping its own job later in a nested op) has nothing to do here.
            if s.next.load(Ordering::Relaxed) < s.parts {
                s.started.fetch_add(1, Ordering::Relaxed);
                placement::leave_cpu(caller_cpu);
                s.work(None);
            }
            drop(s);
            linger();
        });
    }
    let mut alone = ALONE.with(Cell::get);
    alone.gave_away = false;
    shared.work(Some(&mut alone));
    // The last parts are a helper's: spin for them, offering the CPU now and then in case the
    // helper could not leave this CPU and is waiting for it.
    let waiting = Instant::now();
    let mut spins = 0u32;
    while shared.finished.load(Ordering::Acquire) < parts {
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(1024) && waiting.elapsed() >= YIELD_AFTER {
            std::thread::yield_now();
        }
    }
    ALONE.with(|a| a.set(alone.after_op(shared.started.load(Ordering::Relaxed) > 0)));
    let panic = shared.panic.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(payload) = panic {
        resume_unwind(payload);
    }
}

/// `f(index, chunk)` for the consecutive `chunk`-long pieces of `data` (the last may be
/// shorter), under `for_each_part`: the elementwise kernels' split, so that the caller spins
/// rather than sleeps and a helper that wakes late finds the work already done.
pub fn for_each_chunk_mut<U: Send>(data: &mut [U], chunk: usize, f: &(dyn Fn(usize, &mut [U]) + Sync)) {
    let (n, chunk) = (data.len(), chunk.max(1));
    let base = DisjointPtr(data.as_mut_ptr());
    for_each_part(n.div_ceil(chunk), &|p| {
        let start = p * chunk;
        // SAFETY: parts are disjoint ranges inside `data`, which this call borrows mutably.
        let piece = unsafe { std::slice::from_raw_parts_mut(base.get().add(start), chunk.min(n - start)) };
        f(p, piece);
    });
}

/// Elements the calling thread runs first, timed, in `for_each_chunk_by_cost`.
const PROBE: usize = 2048;

/// Work shorter than this runs whole on the calling thread, untimed: the two clock reads cost
/// about 5% of a 16K-element add, and no float32 op of under 8K elements took long enough to
/// gain from a split.
const PROBED_FROM: usize = 4 * PROBE;

/// The shortest part, whatever the probe measured: a probe slowed by an interrupt, steal time
/// or page faults would otherwise cut a large op into parts of a few dozen elements.
const MIN_PART: usize = 4096;

/// Work left (by the probe's rate) below which a pointwise op stays on the calling thread:
/// handing half of it to a helper costs the caller about a microsecond when the helper is
/// awake (a loop of ops), more when it must be woken.
const SPLIT_AT_NS: f64 = 3_000.0;

/// The longest a part should take. A helper claims one part at a time, so this bounds how long
/// the caller waits at the end for a part a late helper has just taken. Shorter parts cost
/// more than they save: the probe's rate is a cold one (its first touch of the operands), so
/// parts come out shorter than planned, and every part restarts the CPU's prefetch stream;
/// at 8 us, sigmoid and GELU on 4M elements took 10-25% longer than with 32K-element parts.
const PART_NS: f64 = 32_000.0;

/// `f(start, chunk)` over consecutive chunks covering `data`, for pointwise work (each element's
/// result its own, so the chunking never changes a result), split by what the work costs rather
/// than by its length: the caller times the first `PROBE` elements, and when that rate says the
/// rest takes `SPLIT_AT_NS` or more, splits the rest across the pool into about the same number
/// of parts for each thread, each at most about `PART_NS` and at least `MIN_PART` long.
///
/// A fixed grain of 32768 elements (PyTorch's too) kept a 16K- or 32K-element exact GELU (7 and
/// 14 us) on one thread, while two threads in a loop of such ops take 4.8 and 8 us. Timing the
/// work itself also covers what a table of per-op costs could not: the dtype, whether the
/// operands are in cache, the CPU's vector width.
pub fn for_each_chunk_by_cost<U: Send>(data: &mut [U], f: &(dyn Fn(usize, &mut [U]) + Sync)) {
    let n = data.len();
    if n < PROBED_FROM || rayon::current_num_threads() == 1 {
        f(0, data);
        return;
    }
    let started = Instant::now();
    let (head, rest) = data.split_at_mut(PROBE);
    f(0, head);
    let per = started.elapsed().as_nanos() as f64 / PROBE as f64;
    if per * (rest.len() as f64) < SPLIT_AT_NS {
        f(PROBE, rest);
        return;
    }
    // A whole number of parts for each thread: while every thread comes in time, each takes
    // the same stretch op after op and finds it in its own cache (four parts a thread, claimed
    // in turn, made a loop of 64K-element adds 2x slower than two halves).
    let threads = rayon::current_num_threads();
    let most = (rest.len() / MIN_PART).max(threads) / threads * threads;
    let planned = (per * rest.len() as f64 / PART_NS).ceil() as usize;
    let parts = planned.max(1).next_multiple_of(threads).min(most);
    let chunk = rest.len().div_ceil(parts).next_multiple_of(16);
    for_each_chunk_mut(rest, chunk, &|i, c| f(PROBE + i * chunk, c));
}

/// `f(item, state)` for every item in 0..items, each claimed by whichever thread gets to it
/// first, with one `init()` state per thread that takes part (kept from item to item): rayon's
/// `for_each_init` over items, under `for_each_part`. A rayon iterator's caller sleeps in its
/// joins once its own half is done, and on the benchmark VM a thread asleep through a pause was
/// woken late: a Conv3d train step split over images this way ran 3.1 ms between pauses against
/// 1.6 back to back. Here the caller keeps claiming items, so a helper that comes late holds up
/// at most the one item it took.
pub fn for_each_claimed<S>(items: usize, init: &(dyn Fn() -> S + Sync), f: &(dyn Fn(usize, &mut S) + Sync)) {
    let next = AtomicUsize::new(0);
    let workers = rayon::current_num_threads().min(items);
    for_each_part(workers, &|_| {
        let mut state: Option<S> = None;
        loop {
            let item = next.fetch_add(1, Ordering::Relaxed);
            if item >= items {
                break;
            }
            f(item, state.get_or_insert_with(init));
        }
    });
}

/// `[f(0), .., f(items - 1)]`, in order, each item claimed as in `for_each_claimed`.
pub fn map_claimed<R: Send>(items: usize, f: &(dyn Fn(usize) -> R + Sync)) -> Vec<R> {
    let slots: Vec<Mutex<Option<R>>> = (0..items).map(|_| Mutex::new(None)).collect();
    for_each_claimed(items, &|| (), &|i, _| *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(f(i)));
    // Every item was claimed and run (a panic in one would have unwound out of the loop above).
    slots.into_iter().map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()).expect("map_claimed: every item runs")).collect()
}

/// `f(task)` for every task, each claimed as in `for_each_claimed` (tasks that own disjoint
/// pieces of buffers, such as mutable slices).
pub fn for_each_task<U: Send>(tasks: Vec<U>, f: &(dyn Fn(U) + Sync)) {
    let slots: Vec<Mutex<Option<U>>> = tasks.into_iter().map(|t| Mutex::new(Some(t))).collect();
    for_each_part(slots.len(), &|i| {
        if let Some(task) = slots[i].lock().unwrap_or_else(|e| e.into_inner()).take() {
            f(task);
        }
    });
}

/// `f(state, index, chunk)` for the consecutive `chunk`-long pieces of `data` (the last may be
/// shorter), handed out `group` pieces at a time as in `for_each_claimed`, with one `init()`
/// state per thread that takes part: rayon's `par_chunks_mut(..).with_min_len(group)` with
/// `for_each_init`, the caller never sleeping.
pub fn for_each_chunk_init<U: Send, S>(data: &mut [U], chunk: usize, group: usize, init: &(dyn Fn() -> S + Sync), f: &(dyn Fn(&mut S, usize, &mut [U]) + Sync)) {
    let (n, chunk, group) = (data.len(), chunk.max(1), group.max(1));
    let chunks = n.div_ceil(chunk);
    let base = DisjointPtr(data.as_mut_ptr());
    for_each_claimed(chunks.div_ceil(group), init, &|t, state| {
        for k in t * group..((t + 1) * group).min(chunks) {
            // SAFETY: chunks are disjoint ranges inside `data`, which this call borrows mutably,
            // and each is handed out once.
            let piece = unsafe { std::slice::from_raw_parts_mut(base.get().add(k * chunk), chunk.min(n - k * chunk)) };
            f(state, k, piece);
        }
    });
}

/// A buffer's base pointer shared by parallel parts that each write their own disjoint set of
/// its elements (rows, column panels, chunks), while the buffer outlives them: the one place
/// that promise is spelled as Send and Sync. Every user says, where it writes, which elements
/// are its part's.
pub struct DisjointPtr<U>(pub *mut U);

impl<U> Clone for DisjointPtr<U> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<U> Copy for DisjointPtr<U> {}
// SAFETY: parts write disjoint elements of a buffer that outlives them (see the users).
unsafe impl<U: Send> Send for DisjointPtr<U> {}
// SAFETY: as Send.
unsafe impl<U: Send> Sync for DisjointPtr<U> {}

impl<U> DisjointPtr<U> {
    /// The pointer (a method, so that a closure captures the whole wrapper, not the raw field).
    #[inline(always)]
    pub fn get(self) -> *mut U {
        self.0
    }
}

/// How long a helper keeps looking for work after its parts: the next op of a training or
/// inference loop comes within this, and finds it awake instead of asleep.
const LINGER: Duration = Duration::from_millis(1);

thread_local! {
    static LINGERING: Cell<bool> = const { Cell::new(false) };
}

/// Spins on `rayon::yield_now` (which runs any pool job it finds, the next op's parts among
/// them) until there has been nothing to do for `LINGER`. Not nested: a job run from inside
/// returns at once rather than lingering a level deeper.
fn linger() {
    // The caller can pick up a helper job of its own (from its deque, inside a later op).
    if CALLER_IS_WORKER_0.load(Ordering::Relaxed) && rayon::current_thread_index() == Some(0) {
        return;
    }
    if LINGERING.with(|l| l.replace(true)) {
        return;
    }
    let mut idle_since = Instant::now();
    while idle_since.elapsed() < LINGER {
        match rayon::yield_now() {
            Some(rayon::Yield::Executed) => idle_since = Instant::now(),
            _ => std::hint::spin_loop(),
        }
    }
    LINGERING.with(|l| l.set(false));
}

mod placement;

struct Parts {
    next: AtomicUsize,
    finished: AtomicUsize,
    /// Helpers that have begun; see `work`.
    started: AtomicUsize,
    parts: usize,
    f: &'static (dyn Fn(usize) + Sync),
    panic: Mutex<Option<Box<dyn std::any::Any + Send>>>,
}

/// How long a caller works alone before it offers its CPU to a helper (see `Parts::work`),
/// and the longest that grows to while offers bring no helper.
const YIELD_AFTER: Duration = Duration::from_micros(50);
const YIELD_AFTER_MAX: Duration = Duration::from_micros(3200);

/// A caller's time working alone, kept from op to op (see `Parts::work`).
#[derive(Clone, Copy)]
struct Alone {
    /// Time inside its ops with no helper begun, since its last offer of the CPU.
    worked: Duration,
    /// How much of that before the next offer: `YIELD_AFTER`, doubled after each op in which
    /// an offer gave the CPU away and still no helper began (another process took it), up to
    /// `YIELD_AFTER_MAX`.
    every: Duration,
    /// Whether an offer in the current op gave the CPU away (the yield took `GAVE_AWAY` or
    /// more: something else ran). An offer that returns at once costs a system call, and is
    /// not held against the next: the helper is then slow to wake elsewhere, not queued here.
    gave_away: bool,
}

const FRESH: Alone = Alone { worked: Duration::ZERO, every: YIELD_AFTER, gave_away: false };

/// A yield that took this long let something else run on the CPU.
const GAVE_AWAY: Duration = Duration::from_micros(20);

impl Alone {
    /// The record after an op that a helper took part in, or not.
    fn after_op(self, helped: bool) -> Alone {
        match (helped, self.gave_away) {
            (true, _) => FRESH,
            (false, true) => Alone { every: (self.every * 2).min(YIELD_AFTER_MAX), ..self },
            (false, false) => self,
        }
    }
}

thread_local! {
    static ALONE: Cell<Alone> = const { Cell::new(FRESH) };
}

impl Parts {
    /// Claims and runs parts until none is left. The caller passes its `Alone` record.
    ///
    /// The caller gives up its CPU once it has worked alone for `every`, counted across its
    /// ops: the kernel often queued a woken helper on the caller's own CPU (`placement`), where
    /// it waited for the caller's time slice to end, so an op of a millisecond or two ran on
    /// one thread; and a loop of shorter ops (GELU on 64K elements, 28 us) ran its first
    /// hundred calls after a pause on one thread, each op too short to reach the limit alone.
    /// Yielding lets the queued helper run and move to an idle CPU. With nothing else waiting
    /// for the CPU it is a system call that returns at once; with other processes waiting, it
    /// can hand them the CPU, hence the growing interval while that is all offers do.
    fn work(&self, mut alone: Option<&mut Alone>) {
        let mut since = Instant::now();
        loop {
            let p = self.next.fetch_add(1, Ordering::AcqRel);
            if p >= self.parts {
                break;
            }
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| (self.f)(p))) {
                self.panic.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(payload);
            }
            self.finished.fetch_add(1, Ordering::AcqRel);
            if let Some(a) = alone.as_deref_mut() {
                if self.started.load(Ordering::Relaxed) == 0 && a.worked + since.elapsed() >= a.every {
                    let offered = Instant::now();
                    std::thread::yield_now();
                    since = Instant::now();
                    a.gave_away |= since - offered >= GAVE_AWAY;
                    a.worked = Duration::ZERO;
                }
            }
        }
        if let Some(a) = alone {
            a.worked += since.elapsed();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_runs_once_and_a_panic_reaches_the_caller() {
        let hits: Vec<AtomicUsize> = (0..37).map(|_| AtomicUsize::new(0)).collect();
        for_each_part(37, &|p| {
            hits[p].fetch_add(1, Ordering::Relaxed);
        });
        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
        let r = catch_unwind(|| for_each_part(8, &|p| assert!(p != 5, "part five")));
        assert!(r.is_err());
    }

    #[test]
    fn chunks_by_cost_cover_the_data_once_and_costly_work_is_split() {
        for n in [0, 1, 100, 4095, 4096, 5000, 100_000] {
            for slow in [false, true] {
                let calls = AtomicUsize::new(0);
                let mut data = vec![usize::MAX; n];
                for_each_chunk_by_cost(&mut data, &|start, c| {
                    calls.fetch_add(1, Ordering::Relaxed);
                    if slow {
                        // About 20 ns an element: 100K elements are 2 ms of work.
                        let until = Instant::now() + Duration::from_nanos(20 * c.len() as u64);
                        while Instant::now() < until {
                            std::hint::spin_loop();
                        }
                    }
                    for (i, x) in c.iter_mut().enumerate() {
                        assert_eq!(*x, usize::MAX, "element {} written twice", start + i);
                        *x = start + i;
                    }
                });
                assert!(data.iter().enumerate().all(|(i, &x)| x == i), "n {n}: every element once, at its start");
                if slow && n == 100_000 && rayon::current_num_threads() > 1 {
                    assert!(calls.load(Ordering::Relaxed) > 2, "2 ms of work stayed in one piece");
                }
            }
        }
    }

    #[test]
    fn offers_back_off_only_while_they_give_the_cpu_to_others() {
        let worked = Duration::from_micros(7);
        let gave = Alone { worked, every: YIELD_AFTER, gave_away: true };
        assert_eq!(gave.after_op(false).every, 2 * YIELD_AFTER);
        assert_eq!(gave.after_op(false).worked, worked);
        let mut a = gave;
        for _ in 0..20 {
            a = Alone { gave_away: true, ..a.after_op(false) };
        }
        assert_eq!(a.every, YIELD_AFTER_MAX);
        // A helper that took part starts the record afresh; a quick yield is not held against it.
        let helped = a.after_op(true);
        assert_eq!((helped.every, helped.worked, helped.gave_away), (YIELD_AFTER, Duration::ZERO, false));
        let quick = Alone { gave_away: false, ..a };
        assert_eq!(quick.after_op(false).every, a.every);
    }

    #[test]
    fn claimed_items_run_once_in_order_with_a_state_per_thread() {
        let hits: Vec<AtomicUsize> = (0..41).map(|_| AtomicUsize::new(0)).collect();
        let states = AtomicUsize::new(0);
        for_each_claimed(41, &|| states.fetch_add(1, Ordering::Relaxed), &|i, _| {
            hits[i].fetch_add(1, Ordering::Relaxed);
        });
        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
        assert!((1..=rayon::current_num_threads()).contains(&states.load(Ordering::Relaxed)));
        assert_eq!(map_claimed(23, &|i| i * i), (0..23).map(|i| i * i).collect::<Vec<_>>());
        assert!(map_claimed(0, &|i| i).is_empty());
        assert!(catch_unwind(|| map_claimed(9, &|i| assert!(i != 4, "item four"))).is_err());
    }
}
