//! Logging through the host's `log` import.
//!
//! On non-wasm targets (native tests and benchmarks) messages go to standard error instead.

use crate::Level;

/// Write `message` to the host's log at `level`.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::sluice::plugin::log::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[plugin {}] {message}", level_name(level));
}

/// Log at `trace` level.
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// Log at `debug` level.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Log at `info` level.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Log at `warn` level.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Log at `error` level.
pub fn error(message: &str) {
    log(Level::Error, message);
}

/// Lower-case name of `level`, as in the WIT.
pub fn level_name(level: Level) -> &'static str {
    match level {
        Level::Trace => "trace",
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_natively_without_the_import() {
        info("hello from a native test");
        log(Level::Error, "still fine");
        assert_eq!(level_name(Level::Warn), "warn");
    }
}
