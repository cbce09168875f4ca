//! The thread pool: rayon's global pool, with Python's importing thread as one of its workers.
//!
//! A parallel op called from a thread outside the pool is handed to the pool and the caller
//! sleeps until it is done: two workers must wake for a split in two. As a worker, the caller
//! runs the first part itself and wakes one. Waking a thread on a small VM (futex, then the
//! hypervisor scheduling an idle vCPU) takes tens of microseconds to milliseconds; this took
//! an MLP training step run after an idle spell from 1.7 to 1.2 ms.
//!
//! Tried and left out: keeping the other worker spinning for 1 ms after each op (as OpenMP
//! runtimes do, here a job looping on `rayon::yield_now`). It did not make the eval pass of
//! `bench/bench.py training` measurably faster and made the CNN step slower (0.65x -> 0.8x of
//! PyTorch's time) by taking a core from the main thread.

/// Makes the calling thread one of the global pool's workers. Does nothing when the global
/// pool already exists (an embedding program built it).
pub fn init() {
    let _ = rayon::ThreadPoolBuilder::new().use_current_thread().build_global();
}
