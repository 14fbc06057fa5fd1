//! A one-line text input with readline keys: ctrl-a / ctrl-e (start / end), ctrl-u (kill to
//! the start), ctrl-w (kill the word before the cursor), ctrl-k (kill to the end), ←/→, Home,
//! End, Backspace, Delete. The cursor counts characters.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Input {
    pub text: String,
    /// In characters, 0..=len.
    pub cursor: usize,
}

impl Input {
    /// A prompt holding `text`, the cursor at its end.
    pub fn new(text: &str) -> Self {
        Self {
            text: text.to_string(),
            cursor: text.chars().count(),
        }
    }

    fn byte(&self, chars: usize) -> usize {
        self.text
            .char_indices()
            .nth(chars)
            .map_or(self.text.len(), |(i, _)| i)
    }

    /// The text before and after the cursor, for drawing it.
    pub fn split(&self) -> (&str, &str) {
        self.text.split_at(self.byte(self.cursor))
    }

    /// Apply an editing key; false when the key is not one (Enter, Esc, Tab, ...).
    pub fn edit(&mut self, key: &KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let len = self.text.chars().count();
        match key.code {
            KeyCode::Char('a') if ctrl => self.cursor = 0,
            KeyCode::Char('e') if ctrl => self.cursor = len,
            KeyCode::Char('u') if ctrl => {
                let at = self.byte(self.cursor);
                self.text.replace_range(..at, "");
                self.cursor = 0;
            }
            KeyCode::Char('k') if ctrl => {
                let at = self.byte(self.cursor);
                self.text.truncate(at);
            }
            KeyCode::Char('w') if ctrl => {
                let before: Vec<char> = self.text.chars().take(self.cursor).collect();
                let mut start = before.len();
                while start > 0 && before[start - 1].is_whitespace() {
                    start -= 1;
                }
                while start > 0 && !before[start - 1].is_whitespace() {
                    start -= 1;
                }
                let (from, to) = (self.byte(start), self.byte(self.cursor));
                self.text.replace_range(from..to, "");
                self.cursor = start;
            }
            // Other control chords are not text.
            KeyCode::Char(_) if ctrl || key.modifiers.contains(KeyModifiers::ALT) => return false,
            KeyCode::Char(c) => {
                let at = self.byte(self.cursor);
                self.text.insert(at, c);
                self.cursor += 1;
            }
            KeyCode::Backspace if self.cursor > 0 => {
                let at = self.byte(self.cursor - 1);
                self.text.remove(at);
                self.cursor -= 1;
            }
            KeyCode::Delete if self.cursor < len => {
                let at = self.byte(self.cursor);
                self.text.remove(at);
            }
            KeyCode::Backspace | KeyCode::Delete => {}
            KeyCode::Left => self.cursor = self.cursor.saturating_sub(1),
            KeyCode::Right => self.cursor = (self.cursor + 1).min(len),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = len,
            _ => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(input: &mut Input, ks: &[(KeyCode, bool)]) {
        for (code, ctrl) in ks {
            let m = if *ctrl {
                KeyModifiers::CONTROL
            } else {
                KeyModifiers::NONE
            };
            input.edit(&KeyEvent::new(*code, m));
        }
    }

    #[test]
    fn readline_keys() {
        let mut i = Input::new("fix the flaky test");
        keys(&mut i, &[(KeyCode::Char('w'), true)]);
        assert_eq!(i.text, "fix the flaky ");
        keys(&mut i, &[(KeyCode::Char('w'), true)]);
        assert_eq!(i.text, "fix the ");
        keys(
            &mut i,
            &[(KeyCode::Char('a'), true), (KeyCode::Char('X'), false)],
        );
        assert_eq!(i.text, "Xfix the ");
        assert_eq!(i.split(), ("X", "fix the "));
        keys(
            &mut i,
            &[(KeyCode::Char('e'), true), (KeyCode::Char('Y'), false)],
        );
        assert_eq!(i.text, "Xfix the Y");
        keys(&mut i, &[(KeyCode::Left, false), (KeyCode::Left, false)]);
        keys(&mut i, &[(KeyCode::Char('u'), true)]);
        assert_eq!((i.text.as_str(), i.cursor), (" Y", 0));
        keys(&mut i, &[(KeyCode::Char('c'), true)]);
        assert_eq!(i.text, " Y", "a control chord is not text");
        let mut i = Input::new("日本 語");
        keys(
            &mut i,
            &[(KeyCode::Backspace, false), (KeyCode::Home, false)],
        );
        keys(&mut i, &[(KeyCode::Delete, false)]);
        assert_eq!(i.text, "本 ");
    }
}
