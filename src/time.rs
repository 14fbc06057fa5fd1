//! Timestamps as the contracts write them: RFC 3339, UTC.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub fn now_rfc3339() -> String {
    format_rfc3339(OffsetDateTime::now_utc())
}

/// Where the supervisor reads the time it records in a run's state: the system's, or one a
/// test sets (`Clock::fixed`) so recorded times can be asserted exactly.
#[derive(Clone, Default)]
pub struct Clock {
    fixed: Option<std::sync::Arc<std::sync::Mutex<OffsetDateTime>>>,
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that says `at` until it is moved with `advance`.
    pub fn fixed(at: OffsetDateTime) -> Self {
        Self {
            fixed: Some(std::sync::Arc::new(std::sync::Mutex::new(at))),
        }
    }

    pub fn advance(&self, by: std::time::Duration) {
        if let Some(t) = &self.fixed {
            let mut t = t.lock().unwrap_or_else(|p| p.into_inner());
            *t += by;
        }
    }

    pub fn now(&self) -> String {
        match &self.fixed {
            Some(t) => format_rfc3339(*t.lock().unwrap_or_else(|p| p.into_inner())),
            None => now_rfc3339(),
        }
    }
}

pub fn format_rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// Seconds from `from` to `to` (or now), for elapsed times in listings.
pub fn elapsed_secs(from: &str, to: Option<&str>) -> Option<i64> {
    let start = parse_rfc3339(from)?;
    let end = match to {
        Some(t) => parse_rfc3339(t)?,
        None => OffsetDateTime::now_utc(),
    };
    Some((end - start).whole_seconds().max(0))
}

/// `42s`, `3m05s`, `2h01m`.
pub fn human_duration(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}
