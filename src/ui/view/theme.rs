//! Colours, and what stands in for them under NO_COLOR: every state also has a symbol and a
//! word, so the screen reads the same without colour.

use ratatui::style::{Color, Modifier, Style};

use crate::run::Status;

#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    pub fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }

    pub fn dim(&self) -> Style {
        if self.color {
            Style::default().fg(Color::DarkGray)
        } else {
            Style::default()
        }
    }

    pub fn bold(&self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }

    pub fn selected(&self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }

    /// The pane that has the keys: its title and border (the title also starts with `▸`, so
    /// the cue reads without colour).
    pub fn focused(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// A search's matches; the current one stands out more.
    pub fn matched(&self) -> Style {
        if self.color {
            Style::default().fg(Color::Black).bg(Color::Yellow)
        } else {
            Style::default().add_modifier(Modifier::UNDERLINED)
        }
    }

    pub fn current_match(&self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)
    }

    pub fn error(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn status(&self, s: Status) -> Style {
        self.fg(match s {
            Status::Queued => Color::DarkGray,
            Status::Running => Color::Green,
            Status::Paused => Color::Yellow,
            Status::Succeeded => Color::Cyan,
            Status::Failed => Color::Red,
            Status::Killed => Color::Magenta,
            Status::Interrupted => Color::LightRed,
        })
    }
}

/// The mark before a focused pane's title.
pub const FOCUS_MARK: &str = "▸ ";

pub fn symbol(s: Status) -> &'static str {
    match s {
        Status::Queued => "·",
        Status::Running => "▶",
        Status::Paused => "‖",
        Status::Succeeded => "✓",
        Status::Failed => "✗",
        Status::Killed => "■",
        Status::Interrupted => "!",
    }
}
