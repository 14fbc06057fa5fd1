//! What flightdeck tells a person to do next is said for the command line (`flightdeck retry
//! RUN`, `retry --phase smoke`, `pass --force`); the cockpit says the same with keys. This is
//! the table of one for the other: exact phrases, longest first, for the run the keys act on.
//! No patterns: advice that names another run stays as it is (its keys would act on the
//! selected run, not on that one).

use crate::run::Phase;

/// (the command line's words, the cockpit's) for the commands, written with ` {id}` after the
/// command for a run (or nothing, for advice that names no run).
fn commands(id: &str) -> Vec<(String, String)> {
    let mut t = Vec::new();
    for (cmd, keys) in [
        ("retry", "r (retry)"),
        ("resume", "press p"),
        ("merge", "press m"),
    ] {
        t.push((format!("`flightdeck {cmd}{id}`"), keys.into()));
        t.push((format!("flightdeck {cmd}{id}"), keys.into()));
    }
    // Only in backticks: bare, `flightdeck pr` is the start of `flightdeck prices`.
    t.push((format!("`flightdeck pr{id}`"), "press P".into()));
    t.push((
        format!("retry it with `flightdeck retry{id}`"),
        "retry it: press r".into(),
    ));
    // Longest first: a phrase that holds another is replaced whole.
    t.sort_by_key(|(cli, _)| std::cmp::Reverse(cli.len()));
    t
}

/// The advice that names no run, longest first; made once.
fn general() -> &'static [(String, String)] {
    static TABLE: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = commands("");
        for p in Phase::PIPELINE.iter().filter(|p| p.is_retryable()) {
            let keys = format!("press r and pick {p}");
            t.push((format!("`retry --phase {p}`"), keys.clone()));
            t.push((format!("retry --phase {p}"), keys));
        }
        let fixed = [
            (
                "pass --phase to say which phase to run again",
                "press r and pick the phase to run again",
            ),
            ("`flightdeck ls` lists the runs", "the table lists the runs"),
            ("flightdeck ls lists the runs", "the table lists the runs"),
            ("`flightdeck pr` opens a new one", "P opens a new one"),
        ];
        t.extend(fixed.iter().map(|(a, b)| (a.to_string(), b.to_string())));
        let force = "; to throw them away, press s for a shell and clean with force there";
        for lead in [", or", " or"] {
            for tail in [" to delete them", ""] {
                t.push((format!("{lead} pass --force{tail}"), force.into()));
            }
        }
        t.sort_by_key(|(cli, _)| std::cmp::Reverse(cli.len()));
        t
    })
}

/// `text` with the command line's advice about `run` (or about no run) said with keys.
pub fn for_keys(text: &str, run: Option<&str>) -> String {
    let mut out = text.to_string();
    // Advice naming the run goes first: each holds its run-less form.
    let named = match run {
        Some(r) if text.contains(r) => commands(&format!(" {r}")),
        _ => Vec::new(),
    };
    for (cli, keys) in named.iter().chain(general()) {
        if out.contains(cli.as_str()) {
            out = replace_whole(&out, cli, keys);
        }
    }
    out
}

/// Replace `cli` with `keys` where it is the whole command: `flightdeck retry` followed by
/// another run's id (` xyz`) is a different command, and stays.
fn replace_whole(text: &str, cli: &str, keys: &str) -> String {
    let bare_command = cli.starts_with("flightdeck ") && cli.matches(' ').count() == 1;
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(cli) {
        let after = &rest[at + cli.len()..];
        let names_a_run = bare_command
            && after.starts_with(' ')
            && after[1..].starts_with(|c: char| c.is_ascii_alphanumeric());
        out.push_str(&rest[..at]);
        out.push_str(if names_a_run { cli } else { keys });
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_advice_becomes_keys() {
        assert_eq!(
            for_keys(
                "run abc was interrupted; retry it with `flightdeck retry abc`",
                Some("abc")
            ),
            "run abc was interrupted; retry it: press r"
        );
        assert_eq!(
            for_keys(
                "the branch moved; retry --phase smoke so the checks run",
                None
            ),
            "the branch moved; press r and pick smoke so the checks run"
        );
        assert_eq!(
            for_keys(
                "it stopped in agent); retry --phase agent or an earlier phase",
                Some("abc")
            ),
            "it stopped in agent); press r and pick agent or an earlier phase"
        );
        assert_eq!(
            for_keys(
                "paused; resume it (`flightdeck resume abc`) and call again",
                Some("abc")
            ),
            "paused; resume it (press p) and call again"
        );
        let force = for_keys(
            "2 commit(s) not merged into main; merge them, or pass --force to delete them",
            None,
        );
        assert!(!force.contains("--"), "{force}");
        assert!(force.contains("press s"), "{force}");
        assert_eq!(for_keys("plain words", None), "plain words");
        assert_eq!(
            for_keys(
                "nothing was overwritten. Look at it, then `flightdeck pr` again",
                None
            ),
            "nothing was overwritten. Look at it, then press P again"
        );
        assert_eq!(
            for_keys("reopen it there, or `flightdeck pr` opens a new one", None),
            "reopen it there, or P opens a new one"
        );
        assert_eq!(
            for_keys("`flightdeck prices` and the flightdeck program", None),
            "`flightdeck prices` and the flightdeck program"
        );
    }

    #[test]
    fn advice_about_another_run_is_not_turned_into_keys_for_this_one() {
        let text = "conflicts with run xyz; `flightdeck rebase xyz` or `flightdeck retry xyz`";
        assert_eq!(for_keys(text, Some("abc")), text);
    }
}
