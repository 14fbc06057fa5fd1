//! The server's log: levelled lines on stderr (which a detached server sends to `server.log`),
//! through `tracing`. `FLIGHTDECK_LOG` picks what is kept (`warn`, `info`, `debug`, or
//! per-module directives); the default is `info`.

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::EnvFilter;

/// The variable that sets the log's level.
pub const LEVEL_VAR: &str = "FLIGHTDECK_LOG";

/// Each line starts with its time in RFC 3339 (UTC), as the log always did.
struct Rfc3339;

impl FormatTime for Rfc3339 {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        w.write_str(&crate::time::now_rfc3339())
    }
}

/// A level (`debug`), or directives naming modules (`flightdeck::supervisor=debug,warn`). A bare
/// word that is no level would silently mean "only the module of that name": refused.
fn parse(v: &str) -> Option<EnvFilter> {
    let is_level = |w: &str| {
        w.trim()
            .parse::<tracing_subscriber::filter::LevelFilter>()
            .is_ok()
    };
    let each_ok = v.split(',').all(|d| d.contains('=') || is_level(d));
    each_ok.then(|| EnvFilter::try_new(v).ok()).flatten()
}

/// Send the process's log lines to stderr. A level that does not parse falls back to `info`,
/// and says so.
pub fn init() {
    let (filter, bad) = match std::env::var(LEVEL_VAR) {
        Ok(v) => match parse(&v) {
            Some(f) => (f, None),
            None => (
                EnvFilter::new("info"),
                Some(format!(
                    "{LEVEL_VAR}={v:?} is not a log level (use error, warn, info, debug or trace); using info"
                )),
            ),
        },
        Err(_) => (EnvFilter::new("info"), None),
    };
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(Rfc3339)
        .with_target(false)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
    if let (Ok(()), Some(bad)) = (installed, bad) {
        tracing::warn!("{bad}");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn levels_and_directives_parse_and_stray_words_do_not() {
        for ok in ["warn", "DEBUG", "flightdeck::supervisor=debug,warn", "off"] {
            assert!(super::parse(ok).is_some(), "{ok}");
        }
        for bad in ["loud!!", "verbose", "warn,loud"] {
            assert!(super::parse(bad).is_none(), "{bad}");
        }
    }
}
