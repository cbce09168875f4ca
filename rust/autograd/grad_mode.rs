//! Grad mode and inference mode: thread-local, like PyTorch's GradMode (a new thread starts with
//! recording on). The Python context managers save and restore these.

use std::cell::Cell;

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
    static INFERENCE_MODE: Cell<bool> = const { Cell::new(false) };
}

pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

pub fn set_grad_enabled(enabled: bool) {
    GRAD_ENABLED.with(|g| g.set(enabled));
}

pub fn is_inference_mode_enabled() -> bool {
    INFERENCE_MODE.with(|g| g.get())
}

pub fn set_inference_mode(enabled: bool) {
    INFERENCE_MODE.with(|g| g.set(enabled));
}

/// Anomaly detection (`fg.autograd.set_detect_anomaly`): process-wide, as PyTorch's. While on,
/// backward checks every gradient a node returns for NaN and names the node that made it.
static ANOMALY_CHECK_NAN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn is_anomaly_enabled() -> bool {
    ANOMALY_CHECK_NAN.load(std::sync::atomic::Ordering::Relaxed)
}

pub fn set_anomaly_enabled(enabled: bool) {
    ANOMALY_CHECK_NAN.store(enabled, std::sync::atomic::Ordering::Relaxed);
}

/// Recording happens when grad mode is on and inference mode is off. PyTorch's `enable_grad`
/// inside `inference_mode` does not re-enable recording; this is why both flags are read.
#[inline]
pub fn is_recording() -> bool {
    is_grad_enabled() && !is_inference_mode_enabled()
}

/// Sets grad mode for a Rust scope and restores the previous mode on drop (also on early return).
pub struct GradModeGuard(bool);

impl GradModeGuard {
    pub fn new(enabled: bool) -> GradModeGuard {
        let prev = is_grad_enabled();
        set_grad_enabled(enabled);
        GradModeGuard(prev)
    }
}

impl Drop for GradModeGuard {
    fn drop(&mut self) {
        set_grad_enabled(self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grad_mode_is_thread_local_and_guard_restores() {
        {
            let _g = GradModeGuard::new(false);
            assert!(!is_grad_enabled());
            assert!(std::thread::spawn(is_grad_enabled).join().unwrap());
        }
        assert!(is_grad_enabled());
    }
}
