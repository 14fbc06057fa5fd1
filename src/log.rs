//! The server's log: lines on stderr, which a detached server sends to `server.log`.

#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        eprintln!("{} {}", $crate::time::now_rfc3339(), format_args!($($arg)*))
    };
}
