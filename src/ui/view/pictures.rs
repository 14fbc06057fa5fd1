//! `i`: the browser check's pictures, one page at a time: what changed and where, then the
//! base, new and diff screenshots side by side (only the diff when the window is narrow), each
//! drawn with the terminal's graphics (see `ui::pictures`).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use super::super::pictures::{Encoder, Gallery, Graphics, CAPTIONS};
use super::text::{cut, printable};
use super::Ctx;

/// Narrower than this (inside the border), only the diff is shown.
const THREE_UP: u16 = 60;

pub fn draw(
    frame: &mut Frame,
    area: Rect,
    gallery: &Gallery,
    page: usize,
    encoder: &mut Encoder,
    ctx: &Ctx,
) {
    let t = ctx.theme;
    let Some(p) = gallery.pages.get(page) else {
        return;
    };
    let title = format!(
        " pictures · {} · page {} of {}: {} · ←/→ pages · Esc closes ",
        gallery.run,
        page + 1,
        gallery.pages.len(),
        printable(&p.name)
    );
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    frame.render_widget(Clear, area);
    frame.render_widget(block, area);
    let width = inner.width as usize;
    let [said, shots] = Layout::vertical([Constraint::Length(2), Constraint::Fill(1)]).areas(inner);
    let graphics = encoder.term.graphics;
    let legend = if graphics == Graphics::None {
        "pictures are off (FLIGHTDECK_GRAPHICS=none)"
    } else {
        "base: the target's render · new: this run's · diff: the changes in red over a faded base"
    };
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(Span::styled(cut(&p.said, width), t.bold())),
            Line::from(Span::styled(cut(legend, width), t.dim())),
        ]),
        said,
    );

    let which: Vec<usize> = if inner.width >= THREE_UP {
        vec![0, 1, 2]
    } else {
        vec![2]
    };
    let columns = Layout::horizontal(which.iter().map(|_| Constraint::Fill(1)))
        .spacing(1)
        .split(shots);
    for (&i, &col) in which.iter().zip(columns.iter()) {
        let shot = &p.shots[i];
        let [caption, picture] =
            Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(col);
        let file = shot.file.as_deref().map(printable).unwrap_or_default();
        let text = if file.is_empty() {
            CAPTIONS[i].to_string()
        } else {
            format!("{} · {file}", CAPTIONS[i])
        };
        frame.render_widget(
            Paragraph::new(Line::from(Span::styled(
                cut(&text, col.width as usize),
                t.fg(Color::Cyan),
            ))),
            caption,
        );
        let missing = match (&shot.file, &shot.image) {
            (None, _) if i == 0 => Some("no baseline: the base commit was not rendered"),
            (None, _) => Some("no screenshot"),
            (Some(_), None) => Some("the picture could not be read"),
            (Some(_), Some(_)) => None,
        };
        if let Some(why) = missing {
            frame.render_widget(
                Paragraph::new(Span::styled(cut(why, col.width as usize), t.dim())),
                picture,
            );
            continue;
        }
        let Some(image) = &shot.image else { continue };
        let key = (gallery.run.clone(), page, i, picture);
        if let Some((protocol, cells)) = encoder.encode(key, image) {
            super::super::pictures::render(protocol, cells, frame.buffer_mut());
        }
    }
}
