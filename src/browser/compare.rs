//! A page's screenshot against its baseline: the diff (`browser/diff.rs`) of the two PNGs,
//! the base and diff images written beside the screenshot, and a visual finding when more
//! changed than the config allows.

use crate::config::browser::BrowserConfig;

use super::report::{Finding, Kind};

/// What a page's screenshot diff found: how much changed, where, and a finding when it
/// is more than `max_diff_ratio`.
#[derive(Default)]
pub struct Compared {
    pub ratio: Option<f64>,
    pub region: Option<super::diff::Region>,
    pub finding: Option<Finding>,
}

/// Diff a page's screenshot against its baseline; write `<page>.base.png` and
/// `<page>.diff.png`. Blocking.
pub fn compare(
    dir: &std::path::Path,
    page: &str,
    shot: Option<&[u8]>,
    base: Option<&Vec<u8>>,
    cfg: &BrowserConfig,
) -> Compared {
    let none = Compared::default();
    let (Some(shot), Some(base)) = (shot, base) else {
        return none;
    };
    let decode = |b: &[u8]| image::load_from_memory(b).map(|i| i.to_rgba8()).ok();
    let (Some(new), Some(old)) = (decode(shot), decode(base)) else {
        return none;
    };
    let d = super::diff::diff(&old, &new, cfg.threshold);
    let _ = crate::owner_only::write(&dir.join(format!("{page}.base.png")), base);
    let mut png = Vec::new();
    if d.image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .is_ok()
    {
        let _ = crate::owner_only::write(&dir.join(format!("{page}.diff.png")), &png);
    }
    let ratio = d.ratio();
    let finding = cfg.max_diff_ratio.filter(|max| ratio > *max).map(|max| {
        Finding::new(
            Kind::Visual,
            page,
            "screenshot",
            format!(
                "{} against the baseline (limit {:.2}%); see browser/{page}.diff.png",
                super::report::changed(ratio, d.region.as_ref()),
                max * 100.0
            ),
            None,
        )
    });
    Compared {
        ratio: Some(ratio),
        region: d.region,
        finding,
    }
}
