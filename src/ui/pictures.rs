//! Pictures in the cockpit: which graphics the terminal takes (the kitty graphics protocol,
//! iTerm2 inline images, sixel, or half blocks `▀` anywhere), the browser check's screenshots
//! as the server sent them, decoded, and each encoded once for the place it is drawn.

use image::DynamicImage;
use ratatui::buffer::{Buffer, CellDiffOption};
use ratatui::layout::Rect;
use ratatui_image::protocol::Protocol;
use ratatui_image::protocol::{halfblocks::Halfblocks, iterm2::Iterm2, kitty::Kitty, sixel::Sixel};

use crate::protocol::{PagePictures, Picture};

/// The variable that says which graphics to use, whatever the terminal seems to be:
/// `kitty`, `iterm2`, `sixel`, `halfblocks`, `none` (or `auto`).
pub const GRAPHICS_VAR: &str = "FLIGHTDECK_GRAPHICS";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Graphics {
    Kitty,
    Iterm2,
    Sixel,
    /// `▀` with the upper pixel as foreground, the lower as background: every terminal.
    Halfblocks,
    /// No pictures, only what they say.
    None,
}

impl Graphics {
    pub fn parse(s: &str) -> Option<Graphics> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "kitty" => Graphics::Kitty,
            "iterm2" | "iterm" => Graphics::Iterm2,
            "sixel" => Graphics::Sixel,
            "halfblocks" | "halfblock" | "blocks" => Graphics::Halfblocks,
            "none" | "off" => Graphics::None,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Graphics::Kitty => "kitty",
            Graphics::Iterm2 => "iterm2",
            Graphics::Sixel => "sixel",
            Graphics::Halfblocks => "halfblocks",
            Graphics::None => "none",
        }
    }
}

/// The terminal as the environment describes it: its graphics, and whether tmux sits in
/// between (graphics then go through tmux's passthrough).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermGraphics {
    pub graphics: Graphics,
    pub tmux: bool,
}

/// From the environment (`var` looks a variable up): `FLIGHTDECK_GRAPHICS` first, then what
/// the terminal says of itself (`TERM`, `TERM_PROGRAM`, `KITTY_WINDOW_ID`, `LC_TERMINAL`).
/// Under tmux a variable inherited from the outer terminal may be stale: only iTerm2's are
/// taken there; otherwise half blocks.
pub fn detect(var: impl Fn(&str) -> Option<String>) -> TermGraphics {
    let get = |name: &str| var(name).filter(|v| !v.is_empty());
    let term = get("TERM").unwrap_or_default();
    let program = get("TERM_PROGRAM").unwrap_or_default();
    let tmux = get("TMUX").is_some()
        || term.starts_with("tmux")
        || term.starts_with("screen")
        || program == "tmux";
    let forced = get(GRAPHICS_VAR).and_then(|v| Graphics::parse(&v));
    let graphics = forced.unwrap_or_else(|| {
        let iterm = program == "iTerm.app"
            || program == "WezTerm"
            || get("LC_TERMINAL").is_some_and(|t| t.contains("iTerm"))
            || get("ITERM_SESSION_ID").is_some();
        let kitty = term == "xterm-kitty"
            || term == "xterm-ghostty"
            || program == "ghostty"
            || get("KITTY_WINDOW_ID").is_some();
        let sixel = term.starts_with("foot") || term.starts_with("mlterm");
        if iterm {
            Graphics::Iterm2
        } else if tmux {
            Graphics::Halfblocks
        } else if kitty {
            Graphics::Kitty
        } else if sixel {
            Graphics::Sixel
        } else {
            Graphics::Halfblocks
        }
    });
    TermGraphics { graphics, tmux }
}

/// One screenshot, decoded.
#[derive(Debug, Clone)]
pub struct Shot {
    /// Its file in the run's directory (`browser/home.diff.png`), when the server had one.
    pub file: Option<String>,
    pub image: Option<DynamicImage>,
}

/// One page of the browser check: what changed and where, and its base, new and diff shots.
#[derive(Debug, Clone)]
pub struct Page {
    pub name: String,
    /// "0.11% of pixels changed, in a 320×48 region at (40,120)", or why there is no diff.
    pub said: String,
    /// Base, new, diff.
    pub shots: [Shot; 3],
}

/// The three shots' captions, in order.
pub const CAPTIONS: [&str; 3] = ["base", "new", "diff"];

/// The pictures of one run's browser check.
#[derive(Debug, Clone)]
pub struct Gallery {
    pub run: String,
    pub pages: Vec<Page>,
}

/// Decode what the server sent (base64 PNGs). CPU work: the runtime calls it off the UI's
/// task.
pub fn decode(pages: Vec<PagePictures>) -> Vec<Page> {
    let shot = |p: Option<Picture>| match p {
        Some(p) => Shot {
            image: crate::base64::decode(&p.png)
                .and_then(|bytes| image::load_from_memory(&bytes).ok()),
            file: Some(p.file),
        },
        None => Shot {
            file: None,
            image: None,
        },
    };
    pages
        .into_iter()
        .map(|p| Page {
            said: match p.diff_ratio {
                Some(r) => crate::browser::report::changed(r, p.diff_region.as_ref()),
                None => "no diff: the base commit's render was not there to compare with".into(),
            },
            name: p.page,
            shots: [shot(p.base), shot(p.new), shot(p.diff)],
        })
        .collect()
}

/// Which picture goes where: run, page, shot, and the space it has.
type Key = (String, usize, usize, Rect);

/// Draw an encoded picture into its cells. A graphics protocol's escape sequence sits in the
/// first cell of a row (ratatui-image's way), which ratatui would take for a line of text as
/// wide as the sequence is long, and so skip every cell after it in the frame: each such cell
/// is given the width of the picture instead (as `view::link` does for OSC 8).
pub fn render(protocol: &Protocol, cells: Rect, buf: &mut Buffer) {
    use std::num::NonZeroU16;
    ratatui::widgets::Widget::render(ratatui_image::Image::new(protocol), cells, buf);
    let Some(width) = NonZeroU16::new(cells.width) else {
        return;
    };
    for y in cells.top()..cells.bottom() {
        if let Some(cell) = buf.cell_mut((cells.x, y)) {
            if cell.symbol().contains('\u{1b}') {
                cell.set_diff_option(CellDiffOption::ForcedWidth(width));
            }
        }
    }
}

/// The shots encoded for the terminal, each once for the place it is drawn (a new size is a
/// new encoding; the kitty protocol sends the image the first time it is drawn only).
pub struct Encoder {
    pub term: TermGraphics,
    /// A cell's size in pixels, for fitting a picture into cells.
    pub cell: (u16, u16),
    /// Each encoding, with the id of its kitty image.
    cache: Vec<(Key, Protocol, Option<u32>)>,
    used: Vec<Key>,
    /// Kitty images no longer drawn, for the terminal to forget (`take_forgotten`).
    forgotten: Vec<u32>,
    next_id: u32,
}

impl Encoder {
    pub fn new(term: TermGraphics, cell: (u16, u16)) -> Self {
        Self {
            term,
            cell: (cell.0.max(1), cell.1.max(1)),
            cache: Vec::new(),
            used: Vec::new(),
            forgotten: Vec::new(),
            // Kitty image ids: a different range for each cockpit, so one that opens in the
            // window of another does not draw its images.
            next_id: (std::process::id() & 0xffff) << 8,
        }
    }

    /// Half blocks at the usual 1:2 cell.
    pub fn halfblocks() -> Self {
        Self::new(
            TermGraphics {
                graphics: Graphics::Halfblocks,
                tmux: false,
            },
            (10, 20),
        )
    }

    /// The picture encoded for `area` (fitted inside it, keeping its shape), and the cells it
    /// takes; None for no graphics or an area too small.
    pub fn encode(&mut self, key: Key, image: &DynamicImage) -> Option<(&Protocol, Rect)> {
        if self.term.graphics == Graphics::None || key.3.width == 0 || key.3.height == 0 {
            return None;
        }
        self.used.push(key.clone());
        let at = match self.cache.iter().position(|(k, _, _)| *k == key) {
            Some(at) => at,
            None => {
                let protocol = self.make(image, key.3)?;
                let id = matches!(protocol, Protocol::Kitty(_)).then_some(self.next_id);
                self.cache.push((key, protocol, id));
                self.cache.len() - 1
            }
        };
        let p = &self.cache[at].1;
        Some((p, p.area()))
    }

    /// Whether the last frame drew pictures as terminal graphics (not cells): the screen
    /// must be cleared once they are gone, as a sixel or iTerm2 picture stays under cells
    /// that did not change.
    pub fn showing_graphics(&self) -> bool {
        !self.cache.is_empty()
            && !matches!(self.term.graphics, Graphics::Halfblocks | Graphics::None)
    }

    /// After a frame: encodings not drawn in it go (a picture drawn again is sent again).
    pub fn end_frame(&mut self) {
        let used = std::mem::take(&mut self.used);
        let (kept, gone): (Vec<_>, Vec<_>) = std::mem::take(&mut self.cache)
            .into_iter()
            .partition(|(k, _, _)| used.contains(k));
        self.cache = kept;
        self.forgotten
            .extend(gone.iter().filter_map(|(_, _, id)| *id));
    }

    /// The bytes that make the terminal free the kitty images no longer drawn (their data
    /// stays in its memory otherwise), written beside the frame; empty for other graphics.
    pub fn take_forgotten(&mut self) -> String {
        let (start, esc, end) = if self.term.tmux {
            ("\u{1b}Ptmux;", "\u{1b}\u{1b}", "\u{1b}\\")
        } else {
            ("", "\u{1b}", "")
        };
        std::mem::take(&mut self.forgotten)
            .into_iter()
            .map(|id| format!("{start}{esc}_Ga=d,d=I,i={id},q=2{esc}\\{end}"))
            .collect()
    }

    fn make(&mut self, image: &DynamicImage, area: Rect) -> Option<Protocol> {
        let (cw, ch) = (u32::from(self.cell.0), u32::from(self.cell.1));
        let (w, h) = (image.width().max(1), image.height().max(1));
        let (max_w, max_h) = (u32::from(area.width) * cw, u32::from(area.height) * ch);
        // The largest size of the same shape that fits.
        let (fit_w, fit_h) = if u64::from(w) * u64::from(max_h) > u64::from(h) * u64::from(max_w) {
            (
                max_w,
                (u64::from(h) * u64::from(max_w) / u64::from(w)) as u32,
            )
        } else {
            (
                (u64::from(w) * u64::from(max_h) / u64::from(h)) as u32,
                max_h,
            )
        };
        let (fit_w, fit_h) = (fit_w.max(1), fit_h.max(1));
        let cells = Rect {
            x: area.x,
            y: area.y,
            width: (fit_w.div_ceil(cw) as u16).clamp(1, area.width),
            height: (fit_h.div_ceil(ch) as u16).clamp(1, area.height),
        };
        let resized = image.resize_exact(fit_w, fit_h, image::imageops::FilterType::Triangle);
        let tmux = self.term.tmux;
        let protocol = match self.term.graphics {
            Graphics::None => return None,
            Graphics::Halfblocks => Protocol::Halfblocks(Halfblocks::new(resized, cells).ok()?),
            Graphics::Kitty => {
                self.next_id = self.next_id.wrapping_add(1).max(1);
                Protocol::Kitty(Kitty::new(resized, cells, self.next_id, tmux).ok()?)
            }
            Graphics::Iterm2 => Protocol::ITerm2(Iterm2::new(resized, cells, tmux).ok()?),
            Graphics::Sixel => Protocol::Sixel(Sixel::new(resized, cells, tmux).ok()?),
        };
        Some(protocol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_terminal_says_which_graphics_and_the_variable_overrides_it() {
        let g = |vars: &[(&str, &str)]| detect(env(vars)).graphics;
        assert_eq!(g(&[("TERM", "xterm-kitty")]), Graphics::Kitty);
        assert_eq!(g(&[("KITTY_WINDOW_ID", "3")]), Graphics::Kitty);
        assert_eq!(g(&[("TERM_PROGRAM", "iTerm.app")]), Graphics::Iterm2);
        assert_eq!(g(&[("TERM", "foot")]), Graphics::Sixel);
        assert_eq!(g(&[("TERM", "xterm-256color")]), Graphics::Halfblocks);
        assert_eq!(g(&[]), Graphics::Halfblocks);
        // Under tmux, an outer kitty's variable may be stale.
        let in_tmux = [
            ("TERM", "tmux-256color"),
            ("TMUX", "/tmp/x,1,0"),
            ("KITTY_WINDOW_ID", "3"),
        ];
        assert_eq!(g(&in_tmux), Graphics::Halfblocks);
        assert!(detect(env(&in_tmux)).tmux);
        // The variable wins, either way; `auto` and nonsense leave it to the terminal.
        for (v, want) in [
            ("kitty", Graphics::Kitty),
            ("iterm2", Graphics::Iterm2),
            ("sixel", Graphics::Sixel),
            ("halfblocks", Graphics::Halfblocks),
            ("none", Graphics::None),
        ] {
            assert_eq!(g(&[("TERM", "xterm-kitty"), (GRAPHICS_VAR, v)]), want);
            assert_eq!(Graphics::parse(want.name()), Some(want));
        }
        assert_eq!(
            g(&[("TERM", "xterm-kitty"), (GRAPHICS_VAR, "auto")]),
            Graphics::Kitty
        );
        assert_eq!(g(&[(GRAPHICS_VAR, "what")]), Graphics::Halfblocks);
    }

    #[test]
    fn half_blocks_carry_the_upper_pixel_in_front_and_the_lower_behind() {
        use ratatui::style::Color;
        // Four bands, top to bottom: red, blue, green, black (scaling blurs where they meet).
        let bands = [[255, 0, 0], [0, 0, 255], [0, 255, 0], [0, 0, 0]];
        let img = image::RgbaImage::from_fn(40, 80, |_, y| {
            let [r, g, b] = bands[(y / 20) as usize];
            image::Rgba([r, g, b, 255])
        });
        let img = DynamicImage::ImageRgba8(img);
        let mut enc = Encoder::halfblocks();
        let area = Rect::new(0, 0, 8, 2);
        let (protocol, cells) = enc.encode(("r".into(), 0, 2, area), &img).unwrap();
        // 40 x 80 pixels fitted into 8 x 2 cells of 10 x 20 keeps its shape: 2 x 2 cells,
        // each two bands high.
        assert_eq!(cells, Rect::new(0, 0, 2, 2));
        let mut buf = Buffer::empty(area);
        render(protocol, cells, &mut buf);
        let near = |c: Color, [r, g, b]: [u8; 3]| match c {
            Color::Rgb(x, y, z) => x.abs_diff(r) < 80 && y.abs_diff(g) < 80 && z.abs_diff(b) < 80,
            _ => false,
        };
        for x in 0..2 {
            for (y, (upper, lower)) in [(bands[0], bands[1]), (bands[2], bands[3])]
                .into_iter()
                .enumerate()
            {
                let cell = &buf[(x, y as u16)];
                assert_eq!(cell.symbol(), "▀", "{cell:?}");
                assert!(
                    near(cell.fg, upper) && near(cell.bg, lower),
                    "{x},{y}: {cell:?}"
                );
            }
        }
        // Nothing drawn outside the picture's cells.
        assert_eq!(buf[(2, 0)].symbol(), " ");
        assert_eq!(buf[(2, 0)].fg, Color::Reset);
        // The same place is not encoded again; a frame that does not draw it lets it go.
        enc.end_frame();
        assert_eq!(enc.cache.len(), 1);
        enc.end_frame();
        assert!(enc.cache.is_empty());
    }

    #[test]
    fn kitty_sends_each_picture_once_and_no_graphics_draws_nothing() {
        let solid = |rgba| {
            DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(64, 32, image::Rgba(rgba)))
        };
        let (red, blue) = (solid([255, 0, 0, 255]), solid([0, 0, 255, 255]));
        let screen = Rect::new(0, 0, 41, 5);
        let term = |graphics| TermGraphics {
            graphics,
            tmux: false,
        };
        let mut enc = Encoder::new(term(Graphics::Kitty), (8, 16));
        // Two pictures side by side, and what ratatui writes of the frame: both are sent
        // (the first one's long escape does not hide the cells after it).
        let draw = |enc: &mut Encoder| {
            let mut buf = Buffer::empty(screen);
            for (i, img) in [&red, &blue].into_iter().enumerate() {
                let area = Rect::new(i as u16 * 21, 0, 20, 5);
                if let Some((p, cells)) = enc.encode(("r".into(), 0, i, area), img) {
                    render(p, cells, &mut buf);
                }
            }
            enc.end_frame();
            Buffer::empty(screen)
                .diff(&buf)
                .into_iter()
                .map(|(_, _, c)| c.symbol())
                .collect::<String>()
        };
        let first = draw(&mut enc);
        assert_eq!(first.matches("\u{1b}_Gq=2,i=").count(), 2, "{first:?}");
        assert_eq!(first.matches("a=T,U=1,f=32,t=d,s=160,v=80").count(), 2);
        let again = draw(&mut enc);
        assert!(!again.contains("\u{1b}_G"), "sent once: {again:?}");
        assert_eq!(enc.take_forgotten(), "");
        // Once they are not drawn, the terminal is told to free both.
        enc.end_frame();
        let forgotten = enc.take_forgotten();
        assert_eq!(
            forgotten.matches("\u{1b}_Ga=d,d=I,i=").count(),
            2,
            "{forgotten:?}"
        );
        assert!(forgotten.ends_with(",q=2\u{1b}\\"), "{forgotten:?}");
        assert_eq!(enc.take_forgotten(), "");
        let mut none = Encoder::new(term(Graphics::None), (8, 16));
        assert!(!draw(&mut none).contains('\u{1b}'));
    }
}
