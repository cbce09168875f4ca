//! Keeping a pool helper off its caller's CPU.
//!
//! On the benchmark VM the kernel often woke the helper on the CPU the caller was running on,
//! with the other vCPU idle, and left it there for the whole op: the two then shared one CPU,
//! and the caller, spinning for the helper's last part, took half of the helper's time. sigmoid
//! on 4M elements ran 0.7 ms split across the CPUs, 1.3 ms when sharing one, and 2.4 ms when
//! the caller spun for the helper's part (the slow calls a third to a half of them).
//! A helper that starts on its caller's CPU now moves to another it may run on: it takes that
//! CPU out of its own affinity mask, which migrates it at once, and puts the mask back, which
//! leaves it where it is. The kernel's choice stands anywhere else, and so does any affinity
//! the program set (a mask of one CPU is left alone).

/// The CPU the calling thread runs on, where the OS says.
#[cfg(target_os = "linux")]
pub fn current_cpu() -> Option<usize> {
    // SAFETY: no arguments; returns -1 on failure.
    let cpu = unsafe { libc::sched_getcpu() };
    usize::try_from(cpu).ok()
}

/// Moves the calling thread to another CPU it may run on when it runs on `cpu`.
#[cfg(target_os = "linux")]
pub fn leave_cpu(cpu: Option<usize>) {
    if let Some(mask) = cpu.and_then(off_cpu) {
        mask.restore();
    }
}

/// A thread's affinity mask as it was before `off_cpu`.
#[cfg(target_os = "linux")]
pub struct Restore(libc::cpu_set_t);

#[cfg(target_os = "linux")]
impl Restore {
    /// Puts the mask back, which leaves the thread where it now runs.
    pub fn restore(self) {
        // SAFETY: a bit set of its own size; pid 0 is the calling thread.
        let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &self.0) };
        debug_assert_eq!(r, 0, "sched_setaffinity: the mask this thread had");
    }
}

/// When the calling thread runs on `cpu` and may run elsewhere, takes `cpu` out of its
/// affinity mask (the kernel moves it at once) and returns the mask to put back.
#[cfg(target_os = "linux")]
pub fn off_cpu(cpu: usize) -> Option<Restore> {
    let size = std::mem::size_of::<libc::cpu_set_t>();
    if current_cpu() != Some(cpu) || cpu >= 8 * size {
        return None;
    }
    // SAFETY: `allowed` and `elsewhere` are plain bit sets of `size` bytes that the calls
    // read or fill; pid 0 is the calling thread; `cpu` is within the set (checked above).
    unsafe {
        let mut allowed: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size, &mut allowed) != 0 || !libc::CPU_ISSET(cpu, &allowed) || libc::CPU_COUNT(&allowed) < 2 {
            return None;
        }
        let mut elsewhere = allowed;
        libc::CPU_CLR(cpu, &mut elsewhere);
        (libc::sched_setaffinity(0, size, &elsewhere) == 0).then_some(Restore(allowed))
    }
}

#[cfg(not(target_os = "linux"))]
pub fn current_cpu() -> Option<usize> {
    None
}

#[cfg(not(target_os = "linux"))]
pub fn leave_cpu(_cpu: Option<usize>) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn a_helper_on_its_callers_cpu_moves_and_keeps_its_affinity() {
        let size = std::mem::size_of::<libc::cpu_set_t>();
        // SAFETY: plain bit sets filled by the calls; pid 0 is this thread.
        let mask = || unsafe {
            let mut m: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(libc::sched_getaffinity(0, size, &mut m), 0);
            m
        };
        let before = mask();
        let here = current_cpu().expect("sched_getcpu");
        match off_cpu(here) {
            Some(restore) => {
                assert_ne!(current_cpu(), Some(here), "moved off its CPU");
                restore.restore();
            }
            // SAFETY: reads the set filled above.
            None => assert!(unsafe { libc::CPU_COUNT(&before) } < 2, "a thread that may run elsewhere moves"),
        }
        let after = mask();
        // SAFETY: reads sets filled above; every index is below the set's size in bits.
        let same = (0..8 * size).all(|c| unsafe { libc::CPU_ISSET(c, &before) == libc::CPU_ISSET(c, &after) });
        assert!(same, "the affinity mask is put back");
    }
}
