//! Holding off SIGINT/SIGTERM/SIGHUP while a one-time refresh token is being exchanged and
//! its successor written: a CI job cancelled mid-refresh must not lose the session.
//! The deferred signal is delivered, with its default action, when the `Shield` drops —
//! after the cache is written. The network part is bounded by BSN_TIMEOUT.

#[cfg(unix)]
pub struct Shield {
    previous: libc::sigset_t,
}

#[cfg(unix)]
impl Shield {
    pub fn hold() -> Shield {
        // SAFETY: plain libc calls on stack-allocated, initialised sigset_t values.
        unsafe {
            let mut block: libc::sigset_t = std::mem::zeroed();
            let mut previous: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut block);
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
                libc::sigaddset(&mut block, sig);
            }
            libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut previous);
            Shield { previous }
        }
    }
}

#[cfg(unix)]
impl Drop for Shield {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in `new`.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous, std::ptr::null_mut());
        }
    }
}

/// Windows: console Ctrl-C handling is not deferred (documented limitation).
#[cfg(not(unix))]
pub struct Shield;

#[cfg(not(unix))]
impl Shield {
    pub fn hold() -> Shield {
        Shield
    }
}
