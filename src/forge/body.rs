//! The pull request's description: PR.md, cut to what the forge takes, with a pointer to the
//! whole proof pack when cut.

use crate::config::forge::ForgeKind;

/// The most a description may hold, in characters (GitHub: 65,536; GitLab: 1,048,576).
pub fn limit(kind: ForgeKind) -> usize {
    match kind {
        ForgeKind::Github => 65_536,
        ForgeKind::Gitlab => 1_048_576,
    }
}

/// `pr_md` as it fits, cut at a line, ending with where the full proof is.
pub fn fit(pr_md: &str, kind: ForgeKind, run_id: &str) -> String {
    let max = limit(kind);
    if pr_md.chars().count() <= max {
        return pr_md.to_string();
    }
    let note = format!(
        "\n\n---\n*Cut to fit the forge's limit. The whole proof pack (PR.md, timeline, checks, model calls) is on the machine that ran it: `flightdeck show {run_id}`.*\n"
    );
    let room = max.saturating_sub(note.chars().count());
    let cut: String = pr_md.chars().take(room).collect();
    let cut = match cut.rfind('\n') {
        Some(at) if at > cut.len() / 2 => cut[..at].to_string(),
        _ => cut,
    };
    format!("{cut}{note}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_description_is_cut_with_a_pointer_and_fits() {
        let md = "line of proof\n".repeat(10_000);
        let body = fit(&md, ForgeKind::Github, "ab12");
        assert!(body.chars().count() <= 65_536);
        assert!(body.contains("flightdeck show ab12"));
        assert_eq!(fit("short", ForgeKind::Github, "x"), "short");
    }
}
