//! Screenshot diffs the way pixelmatch and Playwright measure them: each pixel's colour
//! distance in YIQ space (which weighs brightness as eyes do), compared against a threshold,
//! with anti-aliased edge pixels (font smoothing that shifts by a pixel) not counted; the
//! changed-pixel ratio and a diff image (changes in red, anti-aliasing in yellow, over a faded
//! copy of the base).

use image::{Rgba, RgbaImage};
use serde::{Deserialize, Serialize};

/// The largest YIQ distance there is (black against white).
const MAX_DELTA: f64 = 35215.0;

pub struct Diff {
    pub changed: u64,
    pub total: u64,
    pub image: RgbaImage,
    /// The smallest rectangle holding every changed pixel (none when nothing changed).
    pub region: Option<Region>,
}

/// A rectangle of pixels: `width` x `height` with its top left corner at (`x`, `y`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Region {
    /// The smallest region holding every point (none for no points).
    pub fn around(points: impl IntoIterator<Item = (u32, u32)>) -> Option<Region> {
        points
            .into_iter()
            .fold(None, |r, (x, y)| Some(Region::grow(r, x, y)))
    }

    /// `region` (if any) grown to hold (`x`, `y`).
    pub fn grow(region: Option<Region>, x: u32, y: u32) -> Region {
        let Some(r) = region else {
            return Region {
                x,
                y,
                width: 1,
                height: 1,
            };
        };
        let (x0, y0) = (r.x.min(x), r.y.min(y));
        let (x1, y1) = ((r.x + r.width - 1).max(x), (r.y + r.height - 1).max(y));
        Region {
            x: x0,
            y: y0,
            width: x1 - x0 + 1,
            height: y1 - y0 + 1,
        }
    }
}

impl Diff {
    pub fn ratio(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.changed as f64 / self.total as f64
        }
    }
}

/// Compare two images; `threshold` (0..1, default 0.1) is how different a pixel's colour must
/// be to count. Images of different sizes compare over the larger size, the missing part
/// counting as changed.
pub fn diff(base: &RgbaImage, new: &RgbaImage, threshold: f64) -> Diff {
    let (w, h) = (
        base.width().max(new.width()),
        base.height().max(new.height()),
    );
    let limit = MAX_DELTA * threshold * threshold;
    let mut out = RgbaImage::new(w, h);
    let mut changed = 0;
    let mut region = None;
    for y in 0..h {
        for x in 0..w {
            let a = base.get_pixel_checked(x, y);
            let b = new.get_pixel_checked(x, y);
            let (hit, faded) = match (a, b) {
                (Some(a), Some(b)) => (delta(a, b) > limit, fade(a)),
                _ => (true, Rgba([255, 255, 255, 255])),
            };
            let in_both = x < base.width().min(new.width()) && y < base.height().min(new.height());
            if hit && in_both && (antialiased(base, new, x, y) || antialiased(new, base, x, y)) {
                out.put_pixel(x, y, Rgba([255, 255, 0, 255]));
                continue;
            }
            if hit {
                changed += 1;
                region = Some(Region::grow(region, x, y));
                out.put_pixel(x, y, Rgba([255, 0, 0, 255]));
            } else {
                out.put_pixel(x, y, faded);
            }
        }
    }
    Diff {
        changed,
        total: u64::from(w) * u64::from(h),
        image: out,
        region,
    }
}

/// Whether (x, y) in `a` looks like an anti-aliased edge pixel (pixelmatch's test, after
/// Vysniauskas 2009): few equal neighbours, both a darker and a brighter neighbour, and one
/// of those extremes sitting in a flat area in both images.
fn antialiased(a: &RgbaImage, b: &RgbaImage, x: u32, y: u32) -> bool {
    let (w, h) = (a.width(), a.height());
    let (x0, y0) = (x.saturating_sub(1), y.saturating_sub(1));
    let (x1, y1) = ((x + 1).min(w - 1), (y + 1).min(h - 1));
    let centre = a.get_pixel(x, y);
    let mut equal = if x == x0 || x == x1 || y == y0 || y == y1 {
        1
    } else {
        0
    };
    let (mut min, mut max) = (0.0f64, 0.0f64);
    let (mut dark, mut bright) = (None, None);
    for ny in y0..=y1 {
        for nx in x0..=x1 {
            if nx == x && ny == y {
                continue;
            }
            let d = brightness_delta(centre, a.get_pixel(nx, ny));
            if d == 0.0 {
                equal += 1;
                if equal > 2 {
                    return false;
                }
            } else if d < min {
                min = d;
                dark = Some((nx, ny));
            } else if d > max {
                max = d;
                bright = Some((nx, ny));
            }
        }
    }
    let (Some((dx, dy)), Some((bx, by))) = (dark, bright) else {
        return false;
    };
    (flat(a, dx, dy) && flat(b, dx, dy)) || (flat(a, bx, by) && flat(b, bx, by))
}

/// At least three neighbours of the same colour.
fn flat(img: &RgbaImage, x: u32, y: u32) -> bool {
    let (w, h) = (img.width(), img.height());
    let centre = img.get_pixel(x, y);
    let mut same = if x == 0 || y == 0 || x == w - 1 || y == h - 1 {
        1
    } else {
        0
    };
    for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
        for nx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
            if (nx, ny) != (x, y) && img.get_pixel(nx, ny) == centre {
                same += 1;
                if same > 2 {
                    return true;
                }
            }
        }
    }
    false
}

/// Signed brightness (Y) difference.
fn brightness_delta(a: &Rgba<u8>, b: &Rgba<u8>) -> f64 {
    yiq(a).0 - yiq(b).0
}

/// Squared YIQ distance of two pixels, each blended over white by its alpha.
fn delta(a: &Rgba<u8>, b: &Rgba<u8>) -> f64 {
    let (y1, i1, q1) = yiq(a);
    let (y2, i2, q2) = yiq(b);
    let (dy, di, dq) = (y1 - y2, i1 - i2, q1 - q2);
    0.5053 * dy * dy + 0.299 * di * di + 0.1957 * dq * dq
}

fn yiq(p: &Rgba<u8>) -> (f64, f64, f64) {
    let alpha = f64::from(p[3]) / 255.0;
    let blend = |c: u8| 255.0 + (f64::from(c) - 255.0) * alpha;
    let (r, g, b) = (blend(p[0]), blend(p[1]), blend(p[2]));
    (
        r * 0.29889531 + g * 0.58662247 + b * 0.11448223,
        r * 0.59597799 - g * 0.2741761 - b * 0.32180189,
        r * 0.21147017 - g * 0.52261711 + b * 0.31114694,
    )
}

/// The unchanged base, faded, so the red stands out.
fn fade(p: &Rgba<u8>) -> Rgba<u8> {
    let (y, _, _) = yiq(p);
    let v = (255.0 + (y - 255.0) * 0.1).clamp(0.0, 255.0) as u8;
    Rgba([v, v, v, 255])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_images_differ_nowhere_and_a_recoloured_block_shows() {
        let base = RgbaImage::from_pixel(20, 10, Rgba([240, 240, 240, 255]));
        assert_eq!(diff(&base, &base, 0.1).changed, 0);
        let mut new = base.clone();
        for y in 0..5 {
            for x in 0..4 {
                new.put_pixel(x, y, Rgba([200, 30, 30, 255]));
            }
        }
        // A shade eyes barely see stays under the threshold.
        new.put_pixel(19, 9, Rgba([238, 240, 240, 255]));
        let d = diff(&base, &new, 0.1);
        assert_eq!(d.changed, 20);
        assert!((d.ratio() - 0.1).abs() < 1e-9);
        assert_eq!(*d.image.get_pixel(0, 0), Rgba([255, 0, 0, 255]));
        assert_ne!(*d.image.get_pixel(19, 9), Rgba([255, 0, 0, 255]));
        // An edge pixel that font smoothing shifted (grey between black and white) is not a change.
        let mut edge = RgbaImage::from_pixel(9, 9, Rgba([255, 255, 255, 255]));
        for y in 0..9 {
            for x in 0..4 {
                edge.put_pixel(x, y, Rgba([0, 0, 0, 255]));
            }
        }
        let mut smoothed = edge.clone();
        smoothed.put_pixel(4, 4, Rgba([128, 128, 128, 255]));
        assert_eq!(diff(&edge, &smoothed, 0.1).changed, 0);
        // A different size: the extra part counts as changed.
        let taller = RgbaImage::from_pixel(20, 12, Rgba([240, 240, 240, 255]));
        assert_eq!(diff(&base, &taller, 0.1).changed, 40);
    }

    #[test]
    fn the_changed_pixels_lie_in_their_bounding_box() {
        let base = RgbaImage::from_pixel(400, 200, Rgba([250, 250, 250, 255]));
        assert_eq!(diff(&base, &base, 0.1).region, None);
        // Two changed spots far apart: the box holds both, and nothing more.
        let mut new = base.clone();
        new.put_pixel(40, 120, Rgba([0, 0, 0, 255]));
        for y in 150..168 {
            for x in 300..360 {
                new.put_pixel(x, y, Rgba([200, 30, 30, 255]));
            }
        }
        let d = diff(&base, &new, 0.1);
        assert_eq!(
            d.region,
            Some(Region {
                x: 40,
                y: 120,
                width: 320,
                height: 48
            })
        );
        // One pixel is a 1x1 region; a shade under the threshold is none.
        let mut one = base.clone();
        one.put_pixel(399, 0, Rgba([0, 0, 0, 255]));
        assert_eq!(
            diff(&base, &one, 0.1).region,
            Some(Region {
                x: 399,
                y: 0,
                width: 1,
                height: 1
            })
        );
        let mut faint = base.clone();
        faint.put_pixel(10, 10, Rgba([248, 250, 250, 255]));
        assert_eq!(diff(&base, &faint, 0.1).region, None);
        // A taller new page: the rows only it has are the changed region.
        let taller = RgbaImage::from_pixel(400, 210, Rgba([250, 250, 250, 255]));
        assert_eq!(
            diff(&base, &taller, 0.1).region,
            Some(Region {
                x: 0,
                y: 200,
                width: 400,
                height: 10
            })
        );
        assert_eq!(Region::around([]), None);
    }
}
