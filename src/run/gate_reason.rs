//! Why a run's merge gate is not green, typed: code branches on the kind, people read the
//! sentence. `run.json` and `show --json` keep `gate_reasons` as the sentences they always were
//! and carry the typed form beside it in `gate`, so a restarted server knows what each was.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::record::{ConflictFinding, Phase, Status};

/// The reason an empty change is blocked (exact words; scripts may look for them).
pub const CHANGED_NOTHING: &str = "the run changed nothing";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GateReason {
    /// Evidence that could not be read; the sentence names the file and what to do.
    EvidenceLost {
        detail: String,
    },
    ChangedNothing,
    BranchGone,
    /// smoke did not record the commit it checked.
    CheckUnrecorded,
    /// The branch moved after smoke checked it.
    BranchMoved {
        checked: String,
        tip: String,
    },
    CheckFailed {
        check: String,
    },
    ScoreBelow {
        score: f64,
        min: f64,
    },
    NoScore,
    ProtectedPaths {
        paths: Vec<String>,
    },
    NoTarget,
    /// The radar predicts a conflict that blocks the merge.
    Conflict {
        finding: ConflictFinding,
    },
    /// The run ended without succeeding.
    RunEnded {
        status: Status,
        phase: Phase,
        reason: Option<String>,
    },
    Cleaned,
    /// The merge queue's checks failed on the merge of the target and the run.
    FailsOnceMerged {
        detail: String,
    },
    /// The branch holds something its checks did not run on.
    Unchecked {
        detail: String,
    },
    /// Its pull request was closed on the forge without merging.
    PrClosed {
        url: String,
    },
    /// A sentence from a record written before reasons were typed.
    Said {
        text: String,
    },
}

impl GateReason {
    /// The radar wrote it (a later scan may take it back).
    pub fn is_conflict(&self) -> bool {
        match self {
            GateReason::Conflict { .. } => true,
            // A record written before reasons were typed knows only the sentence.
            GateReason::Said { text } => ConflictFinding::is_description(text),
            _ => false,
        }
    }
}

impl fmt::Display for GateReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GateReason::EvidenceLost { detail }
            | GateReason::FailsOnceMerged { detail }
            | GateReason::Unchecked { detail }
            | GateReason::Said { text: detail } => f.write_str(detail),
            GateReason::ChangedNothing => f.write_str(CHANGED_NOTHING),
            GateReason::BranchGone => f.write_str("the run's branch is gone; nothing to merge"),
            GateReason::CheckUnrecorded => f.write_str(
                "smoke has not recorded which commit it checked; retry --phase smoke",
            ),
            GateReason::BranchMoved { checked, tip } => write!(
                f,
                "the branch moved after smoke checked {} (it is now at {}); retry --phase smoke so the checks run on what would merge",
                short(checked),
                short(tip)
            ),
            GateReason::CheckFailed { check } => write!(f, "required check `{check}` failed"),
            GateReason::ScoreBelow { score, min } => {
                write!(f, "score {score:.2} is below gate.min_score {min:.2}")
            }
            GateReason::NoScore => f.write_str("the run has no acceptance score yet"),
            GateReason::ProtectedPaths { paths } => write!(
                f,
                "touches protected paths: {} (gate.allow_protected = true would allow it)",
                paths.join(", ")
            ),
            GateReason::NoTarget => f.write_str(
                "no target branch: the base did not come from a branch; set gate.target",
            ),
            GateReason::Conflict { finding } => f.write_str(&finding.describe()),
            GateReason::RunEnded {
                status,
                phase,
                reason,
            } => {
                write!(f, "the run {} in phase {phase}", status.ended())?;
                match reason {
                    Some(r) => write!(f, ": {r}"),
                    None => Ok(()),
                }
            }
            GateReason::Cleaned => f.write_str("its worktree and branch were cleaned"),
            GateReason::PrClosed { url } => write!(
                f,
                "its pull request was closed on the forge ({url}); reopen it there, or `flightdeck pr` opens a new one"
            ),
        }
    }
}

fn short(id: &str) -> &str {
    id.get(..10).unwrap_or(id)
}

/// The gate's reasons as the run's state holds them. Flattened into the state, it writes both
/// `gate_reasons` (the sentences) and `gate` (the typed reasons), and reads either.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GateReasons(pub Vec<GateReason>);

impl GateReasons {
    /// The sentences, as `gate_reasons` has them.
    pub fn sentences(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

impl std::ops::Deref for GateReasons {
    type Target = Vec<GateReason>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for GateReasons {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl<'a> IntoIterator for &'a GateReasons {
    type Item = &'a GateReason;
    type IntoIter = std::slice::Iter<'a, GateReason>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl From<Vec<GateReason>> for GateReasons {
    fn from(v: Vec<GateReason>) -> Self {
        GateReasons(v)
    }
}

#[derive(Serialize)]
struct WireOut<'a> {
    gate_reasons: Vec<String>,
    #[serde(skip_serializing_if = "<[GateReason]>::is_empty")]
    gate: &'a [GateReason],
}

#[derive(Deserialize)]
struct WireIn {
    #[serde(default)]
    gate_reasons: Vec<String>,
    #[serde(default)]
    gate: Option<Vec<GateReason>>,
}

impl Serialize for GateReasons {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        WireOut {
            gate_reasons: self.sentences(),
            gate: &self.0,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for GateReasons {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = WireIn::deserialize(d)?;
        Ok(GateReasons(match w.gate {
            // The typed form is what the sentences were made from; it wins when both are there.
            Some(typed) if typed.len() == w.gate_reasons.len() => typed,
            _ => w
                .gate_reasons
                .into_iter()
                .map(|text| GateReason::Said { text })
                .collect(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_are_the_ones_scripts_read() {
        let r = GateReason::BranchMoved {
            checked: "0123456789abcdef".into(),
            tip: "fedcba9876543210".into(),
        };
        assert_eq!(
            r.to_string(),
            "the branch moved after smoke checked 0123456789 (it is now at fedcba9876); retry --phase smoke so the checks run on what would merge"
        );
        assert_eq!(
            GateReason::ScoreBelow {
                score: 0.2,
                min: 0.5
            }
            .to_string(),
            "score 0.20 is below gate.min_score 0.50"
        );
        assert_eq!(
            GateReason::RunEnded {
                status: Status::Failed,
                phase: Phase::Smoke,
                reason: Some("boom".into())
            }
            .to_string(),
            "the run failed in phase smoke: boom"
        );
        assert_eq!(
            GateReason::RunEnded {
                status: Status::Killed,
                phase: Phase::Agent,
                reason: None
            }
            .to_string(),
            "the run was killed in phase agent"
        );
    }

    #[test]
    fn both_forms_are_written_and_the_typed_one_is_read_back() {
        let reasons = GateReasons(vec![
            GateReason::CheckFailed {
                check: "unit".into(),
            },
            GateReason::Conflict {
                finding: ConflictFinding {
                    with: "run:ab12".into(),
                    files: vec!["a.txt".into()],
                    both_waiting: false,
                },
            },
        ]);
        let json = serde_json::to_value(&reasons).unwrap_or_default();
        assert_eq!(
            json["gate_reasons"],
            serde_json::json!([
                "required check `unit` failed",
                "predicted conflict with run:ab12 in a.txt"
            ])
        );
        assert_eq!(json["gate"][1]["kind"], "conflict");
        let back: GateReasons = serde_json::from_value(json).unwrap_or_default();
        assert_eq!(back, reasons);
    }

    #[test]
    #[allow(clippy::field_reassign_with_default)] // only the machine builds states outside tests
    fn the_state_carries_them_flattened_where_gate_reasons_always_was() {
        let mut state = crate::run::RunState::default();
        state.gate_reasons = vec![GateReason::NoScore, GateReason::Cleaned].into();
        let json = serde_json::to_value(&state).unwrap_or_default();
        assert_eq!(
            json["gate_reasons"],
            serde_json::json!([
                "the run has no acceptance score yet",
                "its worktree and branch were cleaned"
            ])
        );
        assert_eq!(json["gate"][0]["kind"], "no_score");
        let back: crate::run::RunState = serde_json::from_value(json).unwrap_or_default();
        assert_eq!(back.gate_reasons, state.gate_reasons);
    }

    #[test]
    fn a_record_from_before_types_keeps_its_sentences() {
        let back: GateReasons =
            serde_json::from_value(serde_json::json!({"gate_reasons": ["score 0.2 < 0.5"]}))
                .unwrap_or_default();
        assert_eq!(back.sentences(), vec!["score 0.2 < 0.5"]);
        assert!(!back[0].is_conflict());
        let old: GateReasons = serde_json::from_value(
            serde_json::json!({"gate_reasons": ["predicted conflict with target:main in a.rs"]}),
        )
        .unwrap_or_default();
        assert!(old[0].is_conflict());
        let none: GateReasons = serde_json::from_value(serde_json::json!({})).unwrap_or_default();
        assert!(none.is_empty());
    }
}
