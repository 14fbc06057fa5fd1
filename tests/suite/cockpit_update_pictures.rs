//! The browser check's pictures in Mission Control, without IO: `i` asking the server for
//! them (from the table or the browser report), a page at a time, `b` back to the report, and
//! the overlay drawn in half blocks with what changed and where.

use crossterm::event::KeyCode;
use flightdeck::browser::diff::Region;
use flightdeck::protocol::{PagePictures, Picture};
use flightdeck::ui::app::{App, DocKind, Mode};
use flightdeck::ui::pictures;
use flightdeck::ui::update::{update, Effect, Msg};
use flightdeck::ui::view::{self, theme::Theme, Ctx};
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use ratatui::Terminal;

use crate::fixtures;

use fixtures::ui::*;

fn png(rgba: [u8; 4]) -> Picture {
    let mut bytes = Vec::new();
    image::RgbaImage::from_pixel(64, 40, image::Rgba(rgba))
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    Picture {
        file: "browser/x.png".into(),
        png: flightdeck::base64::encode(&bytes),
    }
}

/// Two pages as the server sends them: `home` changed, `about` had no baseline.
fn served() -> Vec<PagePictures> {
    vec![
        PagePictures {
            page: "home".into(),
            diff_ratio: Some(0.0011),
            diff_region: Some(Region {
                x: 40,
                y: 120,
                width: 320,
                height: 48,
            }),
            base: Some(png([0, 0, 255, 255])),
            new: Some(png([0, 255, 0, 255])),
            diff: Some(png([255, 0, 0, 255])),
        },
        PagePictures {
            page: "about".into(),
            diff_ratio: None,
            diff_region: None,
            base: None,
            new: Some(png([0, 255, 0, 255])),
            diff: None,
        },
    ]
}

fn shown(app: &mut App, run: &str) {
    update(
        app,
        Msg::Pictures {
            run: run.into(),
            pages: pictures::decode(served()),
        },
    );
}

fn page(app: &App) -> usize {
    match &app.mode {
        Mode::Pictures { page, .. } => *page,
        other => panic!("not the pictures: {other:?}"),
    }
}

#[test]
fn i_asks_for_the_pictures_from_the_table_and_from_the_browser_report() {
    let mut app = app_with(fixtures::runs());
    let id = app.selected.clone().unwrap();
    let fx = press(&mut app, vec![key('i')]);
    assert_eq!(fx, vec![Effect::LoadPictures { run: id.clone() }]);
    update(
        &mut app,
        Msg::Doc {
            kind: DocKind::Browser,
            run: id.clone(),
            text: "# Browser check, iteration 1\n".into(),
            failure: None,
        },
    );
    let fx = press(&mut app, vec![key('i')]);
    assert_eq!(fx, vec![Effect::LoadPictures { run: id.clone() }]);
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn the_pictures_go_page_by_page_and_b_goes_back_to_the_report() {
    let mut app = app_with(fixtures::runs());
    let id = app.selected.clone().unwrap();
    shown(&mut app, &id);
    assert_eq!(page(&app), 0);
    let g = app.gallery.as_ref().unwrap();
    assert_eq!(
        g.pages[0].said,
        "0.11% of pixels changed, in a 320×48 region at (40,120)"
    );
    assert!(g.pages[0].shots.iter().all(|s| s.image.is_some()));
    assert!(
        g.pages[1].said.starts_with("no diff"),
        "{}",
        g.pages[1].said
    );
    press(&mut app, vec![code(KeyCode::Right)]);
    assert_eq!(page(&app), 1);
    press(&mut app, vec![key('l'), key('j')]);
    assert_eq!(page(&app), 1, "the last page stays");
    press(&mut app, vec![code(KeyCode::Left)]);
    assert_eq!(page(&app), 0);
    let fx = press(&mut app, vec![key('b')]);
    assert_eq!(
        fx,
        vec![Effect::LoadDoc {
            kind: DocKind::Browser,
            run: id.clone()
        }]
    );
    assert_eq!(app.mode, Mode::Normal);
    assert!(app.gallery.is_none());
    shown(&mut app, &id);
    press(&mut app, vec![code(KeyCode::Esc)]);
    assert_eq!(app.mode, Mode::Normal);
    assert!(app.gallery.is_none());
}

#[test]
fn a_run_without_a_browser_check_says_so() {
    let mut app = app_with(fixtures::runs());
    let id = app.selected.clone().unwrap();
    update(
        &mut app,
        Msg::Pictures {
            run: id.clone(),
            pages: vec![],
        },
    );
    assert_eq!(app.mode, Mode::Normal);
    let said = &app.status.as_ref().unwrap().text;
    assert!(
        said.starts_with(&format!("run {id} has no browser pictures")),
        "{said}"
    );
}

#[test]
fn the_overlay_says_what_changed_and_draws_the_shots_in_half_blocks() {
    let mut app = app_with(fixtures::runs());
    let id = app.selected.clone().unwrap();
    shown(&mut app, &id);
    let mut terminal = Terminal::new(TestBackend::new(120, 30)).unwrap();
    let ctx = Ctx {
        theme: Theme { color: true },
        now: time::OffsetDateTime::UNIX_EPOCH,
        home: None,
    };
    terminal.draw(|f| view::draw(f, &mut app, &ctx)).unwrap();
    let buf = terminal.backend().buffer().clone();
    let rows: Vec<String> = (0..buf.area.height)
        .map(|y| (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect())
        .collect();
    let text = rows.join("\n");
    assert!(
        text.contains("0.11% of pixels changed, in a 320×48 region at (40,120)"),
        "{text}"
    );
    assert!(
        text.contains(&format!("pictures · {id} · page 1 of 2: home")),
        "{text}"
    );
    assert!(text.contains("diff · browser/x.png"), "{text}");
    // Each shot in its column, in its colours: blue, green, then the diff's red.
    let colours: Vec<Color> = [
        Color::Rgb(0, 0, 255),
        Color::Rgb(0, 255, 0),
        Color::Rgb(255, 0, 0),
    ]
    .to_vec();
    let row = rows
        .iter()
        .position(|r| r.contains("diff · browser/x.png"))
        .unwrap() as u16
        + 1;
    let cols: Vec<Color> = (0..buf.area.width)
        .map(|x| buf[(x, row)].bg)
        .filter(|c| colours.contains(c))
        .fold(Vec::new(), |mut v, c| {
            if v.last() != Some(&c) {
                v.push(c);
            }
            v
        });
    assert_eq!(cols, colours, "{text}");
    // Nothing of it as a graphics escape: half blocks are cells.
    assert!(!(0..buf.area.width).any(|x| buf[(x, row)].symbol().contains('\u{1b}')));
}
