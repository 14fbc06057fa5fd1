//! The real cockpit in tmux showing a run's browser pictures (`i`): the diff sentence with
//! where the page changed, and the screenshots in the terminal's graphics. tmux swallows
//! graphics escapes from its screen, so the bytes the cockpit really wrote are read through
//! `pipe-pane`: a kitty graphics escape (`ESC _G`) carrying the diff image when the terminal
//! says it is kitty (or FLIGHTDECK_GRAPHICS says so), and the images freed when closed; none
//! when it does not (half blocks).

use std::path::Path;

use crate::common::tmux::Tmux;
use crate::common::*;

const SAID: &str = "0.11% of pixels changed, in a 320×48 region at (40,120)";
const RED: [u8; 4] = [255, 0, 0, 255];

fn png(path: &Path, rgba: [u8; 4]) {
    image::RgbaImage::from_pixel(64, 40, image::Rgba(rgba))
        .save(path)
        .unwrap();
}

/// A run whose browser check found a change on page `home`: base blue, new green, diff red.
fn run_with_pictures(env: &Env) -> (std::path::PathBuf, String) {
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "noop", "recolour the box");
    env.wait_status(&id, "succeeded");
    let dir = env.run_dir(&id).join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    png(&dir.join("home.base.png"), [0, 0, 255, 255]);
    png(&dir.join("home.png"), [0, 255, 0, 255]);
    png(&dir.join("home.diff.png"), RED);
    let summary = serde_json::json!({
        "iterations": [{"iteration": 1, "errors": 0, "problems": []}],
        "pages": [{
            "name": "home", "url": "http://127.0.0.1:1/", "screenshot": "browser/home.png",
            "duration_ms": 5, "diff_ratio": 0.0011, "errors": 0,
            "diff_region": {"x": 40, "y": 120, "width": 320, "height": 48}
        }]
    });
    std::fs::write(dir.join("summary.json"), summary.to_string()).unwrap();
    (repo, id)
}

/// Open the cockpit with `vars`, press `i` on the run, and return the bytes it wrote once the
/// pictures are on screen (and, when `until` says so, once it has written those bytes).
fn pictures_written(
    env: &Env,
    repo: &Path,
    id: &str,
    vars: &str,
    name: &str,
    until: impl Fn(&str) -> bool,
) -> String {
    let tmux = Tmux::new();
    tmux.cockpit_with(env, repo, vars);
    let raw = env.path().join(format!("{name}.raw"));
    let piped = tmux.cmd(&[
        "pipe-pane",
        "-t",
        "fd",
        &format!("cat >> {}", raw.display()),
    ]);
    assert!(piped.status.success());
    tmux.wait_for("the run", |s| s.contains(id));
    tmux.keys(&["i"]);
    let screen = tmux.wait_for("the pictures", |s| s.contains(SAID));
    assert!(screen.contains("pictures · "), "{screen}");
    assert!(screen.contains("diff · browser/home.diff.png"), "{screen}");
    let read = || String::from_utf8_lossy(&std::fs::read(&raw).unwrap_or_default()).into_owned();
    wait_until("the pictures written", || until(&read()));
    tmux.keys(&["Escape"]);
    tmux.wait_for("the pictures closed", |s| !s.contains(SAID));
    tmux.keys(&["q"]);
    wait_until("the cockpit to exit", || !tmux.alive());
    read()
}

/// The first pixel of each image the kitty escapes transmit (`a=T`, RGBA, `f=32`).
fn kitty_first_pixels(raw: &str) -> Vec<[u8; 4]> {
    raw.split("\u{1b}_G")
        .skip(1)
        .filter(|e| e.contains("a=T") && e.contains("f=32"))
        .filter_map(|e| {
            let payload = e.split_once(';')?.1;
            let end = payload.find('\u{1b}')?;
            let bytes = flightdeck::base64::decode(&payload[..end])?;
            Some([bytes[0], bytes[1], bytes[2], bytes[3]])
        })
        .collect()
}

#[test]
fn i_shows_the_pictures_in_kitty_graphics_where_the_terminal_has_them_and_half_blocks_elsewhere() {
    let env = Env::new("[agents.noop]\ncommand = [\"true\"]\n");
    let (repo, id) = run_with_pictures(&env);

    // The terminal says it is kitty (outside tmux, as far as the cockpit can tell): the three
    // pictures go as kitty graphics, the diff's red among them.
    let raw = pictures_written(
        &env,
        &repo,
        &id,
        "TMUX= TERM_PROGRAM= TERM=xterm-kitty",
        "kitty",
        |r| kitty_first_pixels(r).len() >= 3,
    );
    let sent = kitty_first_pixels(&raw);
    assert!(sent.contains(&RED), "the diff image: {sent:?}");
    // Closed, the terminal is told to free them.
    assert_eq!(raw.matches("\u{1b}_Ga=d,d=I,i=").count(), 3);
    assert!(
        sent.contains(&[0, 0, 255, 255]) && sent.contains(&[0, 255, 0, 255]),
        "{sent:?}"
    );

    // A plain terminal (tmux's own TERM): half blocks, the diff's red as cell colours, and
    // no graphics escape at all.
    let raw = pictures_written(&env, &repo, &id, "", "plain", |r| {
        r.contains("48;2;255;0;0m")
    });
    assert!(
        !raw.contains("\u{1b}_G"),
        "no kitty graphics in a plain terminal"
    );

    // FLIGHTDECK_GRAPHICS overrides what the terminal seems to be: kitty through tmux's
    // passthrough.
    let raw = pictures_written(
        &env,
        &repo,
        &id,
        "FLIGHTDECK_GRAPHICS=kitty",
        "forced",
        |r| r.contains("\u{1b}Ptmux;\u{1b}\u{1b}_G"),
    );
    assert!(
        !raw.contains("48;2;255;0;0m"),
        "no half blocks when forced to kitty"
    );
}
