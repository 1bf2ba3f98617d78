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

/// Windows: a console handler takes Ctrl-C and Ctrl-Break while a shield is held and the
/// process ends (as the default handler would) when the last shield drops. A console close,
/// logoff or shutdown ends the process once the handler returns, so the handler waits for
/// the shield instead (Windows allows it about 5 s; the exchange is bounded by BSN_TIMEOUT).
#[cfg(windows)]
pub struct Shield;

#[cfg(windows)]
mod console {
    use std::sync::Once;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use windows_sys::Win32::System::Console::{
        CTRL_BREAK_EVENT, CTRL_C_EVENT, SetConsoleCtrlHandler,
    };
    use windows_sys::core::BOOL;

    pub static HELD: AtomicUsize = AtomicUsize::new(0);
    pub static PENDING: AtomicBool = AtomicBool::new(false);
    static INSTALL: Once = Once::new();
    /// What the default handler exits with: STATUS_CONTROL_C_EXIT.
    pub const EXIT_CODE: i32 = 0xC000_013Au32 as i32;

    unsafe extern "system" fn handler(kind: u32) -> BOOL {
        if HELD.load(Ordering::SeqCst) == 0 {
            return 0; // the next handler: the default one ends the process
        }
        PENDING.store(true, Ordering::SeqCst);
        if kind != CTRL_C_EVENT && kind != CTRL_BREAK_EVENT {
            // Close, logoff, shutdown: the process ends when this returns.
            for _ in 0..450 {
                if HELD.load(Ordering::SeqCst) == 0 {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        1
    }

    pub fn install() {
        // SAFETY: handler is a valid PHANDLER_ROUTINE for the life of the process.
        INSTALL.call_once(|| unsafe {
            SetConsoleCtrlHandler(Some(handler), 1);
        });
    }
}

#[cfg(windows)]
impl Shield {
    pub fn hold() -> Shield {
        use std::sync::atomic::Ordering;
        console::install();
        console::HELD.fetch_add(1, Ordering::SeqCst);
        Shield
    }
}

#[cfg(windows)]
impl Drop for Shield {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering;
        if console::HELD.fetch_sub(1, Ordering::SeqCst) == 1
            && console::PENDING.load(Ordering::SeqCst)
        {
            std::process::exit(console::EXIT_CODE);
        }
    }
}

/// Elsewhere (neither Unix nor Windows): nothing to hold off.
#[cfg(not(any(unix, windows)))]
pub struct Shield;

#[cfg(not(any(unix, windows)))]
impl Shield {
    pub fn hold() -> Shield {
        Shield
    }
}
