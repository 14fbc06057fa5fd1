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
    /// The browser check's screenshots: base, new and diff of each page.
    Pictures,
    Merge,
    /// Words for the run's agent, which goes again with them.
    Reply,
    /// Push the run's branch and open or update its pull request.
    Pr,
    Zoom,
    OutputOnly,
    Edit,
    Shell,
    CopyPath,
    /// Copy the URL of the run's pull request.
    CopyUrl,
    Messages,
    AllRuns,
    Help,
    Close,
    Quit,
}

impl Action {
    pub const ALL: [Action; 32] = [
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
        Action::Pictures,
        Action::Merge,
        Action::Reply,
        Action::Pr,
        Action::Zoom,
        Action::OutputOnly,
        Action::Edit,
        Action::Shell,
        Action::CopyPath,
        Action::CopyUrl,
        Action::Messages,
        Action::AllRuns,
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
            Action::Pictures => "pictures",
            Action::Merge => "merge",
            Action::Reply => "reply",
            Action::Pr => "pr",
            Action::Zoom => "zoom",
            Action::OutputOnly => "output_only",
            Action::Edit => "edit",
            Action::Shell => "shell",
            Action::CopyPath => "copy_path",
            Action::CopyUrl => "copy_url",
            Action::Messages => "messages",
            Action::AllRuns => "all_runs",
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
            Action::Filter => "filter runs by text; in a diff, a proof or the timeline: search",
            Action::Diff => "the run's patch as a coloured diff",
            Action::Proof => "the run's proof: PR.md (checks, score, gate, radar)",
            Action::Browser => "the browser report: problems per page, screenshot diffs",
            Action::Pictures => "the browser check's pictures: base, new and diff of each page",
            Action::Merge => "merge through the gate (asks y/n)",
            Action::Reply => "reply: the agent goes again with your words",
            Action::Pr => "push and open or update the run's pull request ([forge])",
            Action::Zoom => "timeline: full screen ⇄ beside the table",
            Action::OutputOnly => "timeline: the agent's output only ⇄ every step",
            Action::Edit => "open the worktree in $VISUAL / $EDITOR",
            Action::Shell => "a shell in the worktree ($SHELL; exit returns here)",
            Action::CopyPath => "copy the worktree's path (OSC 52, works over SSH)",
            Action::CopyUrl => "copy the pull request's URL (OSC 52)",
            Action::Messages => "the last status messages, newest first",
            Action::AllRuns => "show ⇄ hide cleaned runs older than a day",
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
            Action::Pictures => &["i"],
            Action::Merge => &["m"],
            Action::Reply => &["R"],
            Action::Pr => &["P"],
            Action::Zoom => &["z"],
            Action::OutputOnly => &["o"],
            Action::Edit => &["e"],
            Action::Shell => &["s"],
            Action::CopyPath => &["Y"],
            Action::CopyUrl => &["y"],
            Action::Messages => &["M"],
            Action::AllRuns => &["a"],
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
    /// A key given to an action in `[keys]` leaves the action it was a default of, unless
    /// that leaves that action with no key at all. One key for two actions is an error that
    /// names the key, both actions and a way out.
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
        // What [keys] binds, first: those bindings win over defaults.
        let mut configured: Vec<(Key, Action)> = Vec::new();
        for action in Action::ALL {
            let Some(b) = overrides.get(action.name()) else {
                continue;
            };
            for k in b.keys() {
                let key = Key::parse(&k).map_err(|e| format!("[keys] {}: {e}", action.name()))?;
                match configured.iter().find(|(bound, _)| *bound == key) {
                    Some((_, other)) if *other != action => {
                        return Err(double_binding(&key, *other, action, true))
                    }
                    Some(_) => {}
                    None => configured.push((key, action)),
                }
            }
        }
        let mut bindings: Vec<(Key, Action)> = Vec::new();
        for action in Action::ALL {
            if overrides.contains_key(action.name()) {
                bindings.extend(configured.iter().filter(|(_, a)| *a == action));
                continue;
            }
            let defaults: Vec<Key> = action
                .defaults()
                .iter()
                .filter_map(|k| Key::parse(k).ok())
                .collect();
            let kept: Vec<Key> = defaults
                .iter()
                .copied()
                .filter(|k| !configured.iter().any(|(bound, _)| bound == k))
                .collect();
            if kept.is_empty() {
                if let Some((key, by)) = defaults
                    .iter()
                    .find_map(|k| configured.iter().find(|(bound, _)| bound == k))
                {
                    return Err(double_binding(key, action, *by, false));
                }
            }
            bindings.extend(kept.into_iter().map(|k| (k, action)));
        }
        Ok(Keymap { bindings })
    }

    /// The first key of `action`, as the footer shows it.
    pub fn first_key(&self, action: Action) -> Option<String> {
        self.keys_for(action).first().map(Key::label)
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

/// The sentence for one key bound to `first` and `second` (`second` in `[keys]`; `first` too
/// when `both_configured`, else by default).
fn double_binding(key: &Key, first: Action, second: Action, both_configured: bool) -> String {
    let label = key.label();
    let whose = if both_configured {
        format!(
            "[keys] binds `{label}` to both {} and {}",
            first.name(),
            second.name()
        )
    } else {
        format!(
            "[keys] binds `{label}` to {}, but `{label}` is also {}'s only key (its default)",
            second.name(),
            first.name()
        )
    };
    format!(
        "{whose}: a key can do only one thing; give {} another key in [keys] (e.g. {} = \"{}\") or pick another key for {}",
        first.name(),
        first.name(),
        free_key_for(first, &label),
        second.name()
    )
}

/// A key no default uses, to suggest: the action's initial in upper case if free.
fn free_key_for(action: Action, besides: &str) -> String {
    let taken = |k: &str| k == besides || Action::ALL.iter().any(|a| a.defaults().contains(&k));
    let initial = action.name()[..1].to_uppercase();
    if !taken(&initial) {
        return initial;
    }
    [
        "X", "K", "P", "R", "C", "D", "V", "B", "Z", "O", "E", "S", "Y", "Q", "N",
    ]
    .into_iter()
    .find(|k| !taken(k))
    .unwrap_or("F")
    .to_string()
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

    #[test]
    fn one_key_for_two_actions_is_refused_naming_both() {
        // Both in [keys].
        let mut o = BTreeMap::new();
        o.insert("kill".to_string(), KeyBinding::One("D".into()));
        o.insert("diff".to_string(), KeyBinding::One("D".into()));
        let e = Keymap::new(&o).unwrap_err();
        assert!(
            e.contains("`D` to both kill and diff") && e.contains("kill = \"K\""),
            "{e}"
        );
        // [keys] takes the only key of an action it does not rebind.
        let mut o = BTreeMap::new();
        o.insert("kill".to_string(), KeyBinding::One("p".into()));
        let e = Keymap::new(&o).unwrap_err();
        assert!(
            e.contains("`p` to kill") && e.contains("pause's only key"),
            "{e}"
        );
        // P is the pull request's key: the suggestion is a key no default takes.
        assert!(e.contains("pause = \"X\""), "{e}");
        // Taking one of two default keys is fine: the other stays.
        let mut o = BTreeMap::new();
        o.insert("zoom".to_string(), KeyBinding::One("k".into()));
        let km = Keymap::new(&o).unwrap();
        assert_eq!(km.action(&key('k')), Some(Action::Zoom));
        assert_eq!(km.keys_for(Action::Up).len(), 1);
        // The defaults themselves bind each key once.
        let km = Keymap::default();
        for (k, _) in &km.bindings {
            assert_eq!(km.bindings.iter().filter(|(b, _)| b == k).count(), 1);
        }
    }
}
