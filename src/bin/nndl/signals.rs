//! Ctrl-C and SIGTERM during training: the first asks the run to stop
//! after the current mini-batch, save and say where; a second ends the
//! process at once, with the status a shell gives a killed one (128 + N).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;

/// The signal received first, 0 for none.
static SIGNAL: AtomicUsize = AtomicUsize::new(0);
/// Set by the first signal: the next one ends the process.
static ARMED: AtomicBool = AtomicBool::new(false);

/// Takes over SIGINT and SIGTERM.
pub(crate) fn install() -> std::io::Result<()> {
    for signal in [SIGINT, SIGTERM] {
        // The order matters: the exit is armed only by an earlier signal.
        flag::register_conditional_shutdown(signal, 128 + signal, &ARMED)?;
        flag::register_usize(signal, &SIGNAL, signal as usize)?;
        flag::register(signal, &ARMED)?;
    }
    Ok(())
}

/// The signal that asked the run to stop, if one has.
pub(crate) fn received() -> Option<(&'static str, u8)> {
    match SIGNAL.load(Ordering::SeqCst) as i32 {
        SIGINT => Some(("SIGINT", 130)),
        SIGTERM => Some(("SIGTERM", 143)),
        _ => None,
    }
}
