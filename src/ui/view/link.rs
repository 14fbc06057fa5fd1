//! OSC 8 hyperlinks over text already drawn. ratatui drops control characters from what
//! widgets write, so a link cannot be drawn as a `Span`: the view draws the text, notes where
//! ([`Link`]), and [`apply`] turns those cells into one cell that prints
//! `ESC ] 8 ; ; URL ESC \ TEXT ESC ] 8 ; ; ESC \` with its width forced to the text's, the
//! cells it covers skipped. The screen shows the same characters at the same places; a
//! terminal without OSC 8 ignores the sequence.
//!
//! Kept out of [`super::draw`] so that snapshots of the buffer show what a person sees; the
//! runtime applies the links to each frame before ratatui writes it.

use std::num::NonZeroU16;

use ratatui::buffer::{Buffer, CellDiffOption};

/// Cells `x .. x + width` of row `y` show (part of) `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub x: u16,
    pub y: u16,
    pub width: u16,
    pub url: String,
}

/// Make each link's cells one hyperlink. A link outside the buffer, or whose URL could end the
/// escape sequence (see [`crate::ui::pr::linkable`]), is left as plain text.
pub fn apply(buf: &mut Buffer, links: &[Link]) {
    for link in links {
        let area = buf.area;
        if !crate::ui::pr::linkable(&link.url)
            || link.width == 0
            || link.y < area.y
            || link.y >= area.bottom()
            || link.x < area.x
            || link.x >= area.right()
        {
            continue;
        }
        let end = link.x.saturating_add(link.width).min(area.right());
        // The characters the cells show, each wide one once (its second cell is blank).
        let mut text = String::new();
        let mut x = link.x;
        while x < end {
            let symbol = buf[(x, link.y)].symbol();
            text.push_str(symbol);
            x += (crate::text::width(symbol) as u16).max(1);
        }
        let Some(width) = NonZeroU16::new(x.min(area.right()) - link.x) else {
            continue;
        };
        buf[(link.x, link.y)]
            .set_symbol(&crate::ui::osc::hyperlink(&link.url, &text))
            .set_diff_option(CellDiffOption::ForcedWidth(width));
        for covered in link.x + 1..link.x + width.get() {
            buf[(covered, link.y)].set_diff_option(CellDiffOption::Skip);
        }
    }
}
