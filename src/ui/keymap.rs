//! Keys → actions. Defaults here; `[keys]` in config overrides them per action. The `?` overlay
//! is generated from this table, so it never disagrees with what the keys do.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::config::KeyBinding;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Up,
    Down,
    Top,
    Bottom,
    PageUp,
    PageDown,
    Open,
    Focus,
    Pause,
    Retry,
    Kill,
    New,
    Clean,
    Filter,
    Diff,
    Proof,
    Browser,
    Merge,
    Zoom,
    OutputOnly,
    Edit,
    Shell,
    CopyPath,
    Help,
    Close,
    Quit,
}

impl Action {
    pub const ALL: [Action; 26] = [
        Action::Up,
        Action::Down,
        Action::Top,
        Action::Bottom,
        Action::PageUp,
        Action::PageDown,
        Action::Open,
        Action::Focus,
        Action::Pause,
        Action::Retry,
        Action::Kill,
        Action::New,
        Action::Clean,
        Action::Filter,
        Action::Diff,
        Action::Proof,
        Action::Browser,
        Action::Merge,
        Action::Zoom,
        Action::OutputOnly,
        Action::Edit,
        Action::Shell,
        Action::CopyPath,
        Action::Help,
        Action::Close,
        Action::Quit,
    ];

    /// The name used in `[keys]`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Up => "up",
            Action::Down => "down",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::PageUp => "page_up",
            Action::PageDown => "page_down",
            Action::Open => "open",
            Action::Focus => "focus",
            Action::Pause => "pause",
            Action::Retry => "retry",
            Action::Kill => "kill",
            Action::New => "new",
            Action::Clean => "clean",
            Action::Filter => "filter",
            Action::Diff => "diff",
            Action::Proof => "proof",
            Action::Browser => "browser",
            Action::Merge => "merge",
            Action::Zoom => "zoom",
            Action::OutputOnly => "output_only",
            Action::Edit => "edit",
            Action::Shell => "shell",
            Action::CopyPath => "copy_path",
            Action::Help => "help",
            Action::Close => "close",
            Action::Quit => "quit",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Action::Up => "move up (scroll up in the timeline)",
            Action::Down => "move down (scroll down in the timeline)",
            Action::Top => "first run (top of the timeline)",
            Action::Bottom => "last run (timeline: back to follow mode)",
            Action::PageUp => "page up",
            Action::PageDown => "page down",
            Action::Open => "open the run's timeline beside the table",
            Action::Focus => "open the timeline / switch focus table ⇄ timeline",
            Action::Pause => "pause or resume the run",
            Action::Retry => "retry a phase (asks which)",
            Action::Kill => "kill the run (asks y/n)",
            Action::New => "new run: type the task, Tab picks the agent",
            Action::Clean => "remove worktree and branch (asks y/n)",
            Action::Filter => "filter runs by text",
            Action::Diff => "the run's patch as a coloured diff",
            Action::Proof => "the run's proof: PR.md (checks, score, gate, radar)",
            Action::Browser => "the browser report: problems per page, screenshot diffs",
            Action::Merge => "merge through the gate (asks y/n)",
            Action::Zoom => "timeline: full screen ⇄ beside the table",
            Action::OutputOnly => "timeline: the agent's output only ⇄ every step",
            Action::Edit => "open the worktree in $VISUAL / $EDITOR",
            Action::Shell => "a shell in the worktree ($SHELL; exit returns here)",
            Action::CopyPath => "copy the worktree's path (OSC 52, works over SSH)",
            Action::Help => "this help",
            Action::Close => "close whatever is open",
            Action::Quit => "quit (runs keep going)",
        }
    }

    fn defaults(self) -> &'static [&'static str] {
        match self {
            Action::Up => &["k", "Up"],
            Action::Down => &["j", "Down"],
            Action::Top => &["g", "Home"],
            Action::Bottom => &["G", "End"],
            Action::PageUp => &["PageUp", "ctrl-u"],
            Action::PageDown => &["PageDown", "ctrl-d"],
            Action::Open => &["Enter"],
            Action::Focus => &["Tab"],
            Action::Pause => &["p"],
            Action::Retry => &["r"],
            Action::Kill => &["x"],
            Action::New => &["n"],
            Action::Clean => &["c"],
            Action::Filter => &["/"],
            Action::Diff => &["d"],
            Action::Proof => &["v"],
            Action::Browser => &["b"],
            Action::Merge => &["m"],
            Action::Zoom => &["z"],
            Action::OutputOnly => &["o"],
            Action::Edit => &["e"],
            Action::Shell => &["s"],
            Action::CopyPath => &["y"],
            Action::Help => &["?"],
            Action::Close => &["Esc"],
            Action::Quit => &["q", "ctrl-c"],
        }
    }
}

/// A key as written in config and shown in help: `x`, `G`, `ctrl-c`, `Enter`, `Up`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

impl Key {
    pub fn from_event(e: &KeyEvent) -> Self {
        let code = match e.code {
            // Terminals report Shift+Tab as BackTab; treat it as Tab.
            KeyCode::BackTab => KeyCode::Tab,
            c => c,
        };
        Key {
            code,
            ctrl: e.modifiers.contains(KeyModifiers::CONTROL),
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        let (ctrl, rest) = match s.strip_prefix("ctrl-") {
            Some(r) => (true, r),
            None => (false, s),
        };
        let code = match rest {
            "Enter" => KeyCode::Enter,
            "Tab" => KeyCode::Tab,
            "Esc" => KeyCode::Esc,
            "Up" => KeyCode::Up,
            "Down" => KeyCode::Down,
            "Left" => KeyCode::Left,
            "Right" => KeyCode::Right,
            "Home" => KeyCode::Home,
            "End" => KeyCode::End,
            "PageUp" => KeyCode::PageUp,
            "PageDown" => KeyCode::PageDown,
            "Backspace" => KeyCode::Backspace,
            "Space" => KeyCode::Char(' '),
            one if one.chars().count() == 1 => KeyCode::Char(one.chars().next().unwrap_or(' ')),
            other => {
                return Err(format!(
                    "unknown key `{other}`; use a single character, ctrl-<char>, Enter, Tab, Esc, Up, Down, Left, Right, Home, End, PageUp, PageDown, Backspace or Space"
                ))
            }
        };
        Ok(Key { code, ctrl })
    }

    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Backspace => "Backspace".into(),
            other => format!("{other:?}"),
        };
        if self.ctrl {
            format!("ctrl-{base}")
        } else {
            base
        }
    }
}

#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: Vec<(Key, Action)>,
}

impl Default for Keymap {
    fn default() -> Self {
        Self::new(&BTreeMap::new()).unwrap_or_else(|_| Keymap { bindings: vec![] })
    }
}

impl Keymap {
    /// Defaults, with each action named in `overrides` bound to the keys given there instead.
    pub fn new(overrides: &BTreeMap<String, KeyBinding>) -> Result<Self, String> {
        for name in overrides.keys() {
            if !Action::ALL.iter().any(|a| a.name() == name) {
                let names: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
                return Err(format!(
                    "[keys] names an unknown action `{name}`; actions are: {}",
                    names.join(", ")
                ));
            }
        }
        let mut bindings: Vec<(Key, Action)> = Vec::new();
        for action in Action::ALL {
            let keys: Vec<String> = match overrides.get(action.name()) {
                Some(b) => b.keys(),
                None => action.defaults().iter().map(|s| s.to_string()).collect(),
            };
            for k in keys {
                let key = Key::parse(&k).map_err(|e| format!("[keys] {}: {e}", action.name()))?;
                // A key moved to another action by config leaves its default action.
                bindings.retain(|(bound, _)| *bound != key);
                bindings.push((key, action));
            }
        }
        Ok(Keymap { bindings })
    }

    pub fn action(&self, e: &KeyEvent) -> Option<Action> {
        let key = Key::from_event(e);
        self.bindings
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, a)| *a)
    }

    pub fn keys_for(&self, action: Action) -> Vec<Key> {
        self.bindings
            .iter()
            .filter(|(_, a)| *a == action)
            .map(|(k, _)| *k)
            .collect()
    }

    /// (keys, description) for every action, in a stable order: the help overlay.
    pub fn help(&self) -> Vec<(String, &'static str)> {
        Action::ALL
            .iter()
            .map(|a| {
                let keys: Vec<String> = self.keys_for(*a).iter().map(Key::label).collect();
                (keys.join(" "), a.describe())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    #[test]
    fn defaults_and_overrides() {
        let km = Keymap::default();
        assert_eq!(km.action(&key('j')), Some(Action::Down));
        assert_eq!(
            km.action(&KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(km.action(&key('c')), Some(Action::Clean));

        let mut o = BTreeMap::new();
        o.insert("kill".to_string(), KeyBinding::One("K".into()));
        o.insert(
            "down".to_string(),
            KeyBinding::Many(vec!["x".into(), "Down".into()]),
        );
        let km = Keymap::new(&o).unwrap();
        assert_eq!(km.action(&key('K')), Some(Action::Kill));
        assert_eq!(km.action(&key('x')), Some(Action::Down));
        assert_eq!(km.action(&key('j')), None);
        let help = km.help();
        assert!(help.iter().any(|(k, d)| k == "K" && d.starts_with("kill")));
    }

    #[test]
    fn bad_overrides_are_errors() {
        let mut o = BTreeMap::new();
        o.insert("explode".to_string(), KeyBinding::One("e".into()));
        assert!(Keymap::new(&o)
            .unwrap_err()
            .contains("unknown action `explode`"));
        let mut o = BTreeMap::new();
        o.insert("kill".to_string(), KeyBinding::One("Hyper".into()));
        assert!(Keymap::new(&o).unwrap_err().contains("unknown key `Hyper`"));
    }
}
