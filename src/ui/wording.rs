//! The server speaks to the command line (`flightdeck retry RUN`, `retry --phase smoke`,
//! `pass --force`); in the cockpit the same advice names keys. Pure text rewriting.

use std::sync::OnceLock;

use regex::Regex;

/// (pattern, replacement), applied in order.
fn rules() -> &'static [(Regex, &'static str)] {
    static RULES: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    RULES.get_or_init(|| {
        [
            (
                r"retry it with `flightdeck retry(?: [A-Za-z0-9_-]+)?`",
                "retry it: press r",
            ),
            (r"`?flightdeck retry(?: [A-Za-z0-9_-]+)?`?", "r (retry)"),
            (r"`?retry --phase (\w+)`?", "press r and pick $1"),
            (
                r"pass --phase to say which phase to run again",
                "press r and pick the phase to run again",
            ),
            (r"`?flightdeck resume(?: [A-Za-z0-9_-]+)?`?", "press p"),
            (r"`?flightdeck merge(?: [A-Za-z0-9_-]+)?`?", "press m"),
            (
                r"`?flightdeck ls`? lists the runs",
                "the table lists the runs",
            ),
            (
                r",? or pass --force(?: to delete them)?",
                "; to throw them away, press s for a shell and clean with force there",
            ),
        ]
        .into_iter()
        .filter_map(|(p, r)| Regex::new(p).ok().map(|re| (re, r)))
        .collect()
    })
}

/// `text` with command-line advice turned into keys.
pub fn for_cockpit(text: &str) -> String {
    let mut out = text.to_string();
    for (re, with) in rules() {
        if re.is_match(&out) {
            out = re.replace_all(&out, *with).into_owned();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_advice_becomes_keys() {
        assert_eq!(
            for_cockpit("run abc was interrupted; retry it with `flightdeck retry abc`"),
            "run abc was interrupted; retry it: press r"
        );
        assert_eq!(
            for_cockpit("the branch moved; retry --phase smoke so the checks run"),
            "the branch moved; press r and pick smoke so the checks run"
        );
        assert_eq!(
            for_cockpit("it stopped in agent); retry --phase agent or an earlier phase"),
            "it stopped in agent); press r and pick agent or an earlier phase"
        );
        assert_eq!(
            for_cockpit("paused; resume it (`flightdeck resume abc`) and call again"),
            "paused; resume it (press p) and call again"
        );
        let force = for_cockpit(
            "2 commit(s) not merged into main; merge them, or pass --force to delete them",
        );
        assert!(!force.contains("--"), "{force}");
        assert!(force.contains("press s"), "{force}");
        assert_eq!(for_cockpit("plain words"), "plain words");
    }
}
