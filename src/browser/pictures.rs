//! The last browser check's screenshots for the cockpit: each page of `browser/summary.json`
//! with its base, new and diff PNGs, as plain data the server sends (the cockpit never reads
//! run files).

use std::path::Path;

use crate::protocol::{PagePictures, Picture};

use super::report::Summary;

/// The largest PNG sent; a bigger one is left out (the cockpit says it has none).
pub const MAX_PICTURE_BYTES: u64 = 16 << 20;

/// Each page of the last check, in its order. Blocking: reads files.
pub fn read(run_dir: &Path) -> Vec<PagePictures> {
    let Some(summary) = Summary::read(run_dir) else {
        return Vec::new();
    };
    summary
        .pages
        .into_iter()
        .map(|p| {
            // A page's name names its files; one that could reach outside browser/ gets none.
            let safe =
                !p.name.is_empty() && !p.name.contains(['/', '\\']) && !p.name.starts_with('.');
            let file = |name: String| safe.then(|| picture(run_dir, name)).flatten();
            PagePictures {
                base: file(format!("browser/{}.base.png", p.name)),
                new: file(format!("browser/{}.png", p.name)),
                diff: file(format!("browser/{}.diff.png", p.name)),
                page: p.name,
                diff_ratio: p.diff_ratio,
                diff_region: p.diff_region,
            }
        })
        .collect()
}

/// One PNG of the run's directory, when it is there, a PNG, and not too big. Blocking.
fn picture(run_dir: &Path, file: String) -> Option<Picture> {
    let path = run_dir.join(&file);
    let meta = std::fs::symlink_metadata(&path).ok()?;
    if !meta.is_file() || meta.len() > MAX_PICTURE_BYTES {
        return None;
    }
    let bytes = std::fs::read(&path).ok()?;
    bytes.starts_with(b"\x89PNG").then(|| Picture {
        png: crate::base64::encode(&bytes),
        file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::browser::report::{PageResult, Region};

    #[test]
    fn each_page_comes_with_the_screenshots_it_has() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).is_empty());
        std::fs::create_dir_all(dir.path().join("browser")).unwrap();
        let page = |name: &str| PageResult {
            name: name.into(),
            url: "http://127.0.0.1:1/".into(),
            screenshot: Some(format!("browser/{name}.png")),
            duration_ms: 1,
            diff_ratio: Some(0.5),
            diff_region: Some(Region {
                x: 1,
                y: 2,
                width: 3,
                height: 4,
            }),
            errors: 0,
        };
        let summary = Summary {
            iterations: vec![],
            pages: vec![page("home"), page("../escape")],
        };
        std::fs::write(
            dir.path().join(Summary::FILE),
            serde_json::to_vec(&summary).unwrap(),
        )
        .unwrap();
        let png = b"\x89PNG\r\n\x1a\nrest".to_vec();
        std::fs::write(dir.path().join("browser/home.png"), &png).unwrap();
        std::fs::write(dir.path().join("browser/home.diff.png"), &png).unwrap();
        std::fs::write(dir.path().join("browser/home.base.png"), b"not a png").unwrap();
        std::fs::write(dir.path().join("escape.png"), &png).unwrap();
        let pages = read(dir.path());
        assert_eq!(pages.len(), 2);
        assert_eq!(pages[0].page, "home");
        assert_eq!(pages[0].diff_region, summary.pages[0].diff_region);
        let new = pages[0].new.as_ref().unwrap();
        assert_eq!(new.file, "browser/home.png");
        assert_eq!(crate::base64::decode(&new.png).unwrap(), png);
        assert!(pages[0].diff.is_some());
        assert_eq!(pages[0].base, None, "not a PNG");
        assert_eq!((&pages[1].new, &pages[1].diff), (&None, &None));
    }
}
