//! Run ids: short, unique, and safe as a path component and a branch name whatever the task says.

use std::time::{SystemTime, UNIX_EPOCH};

/// Lower-case letters and digits without the look-alikes (0/o, 1/l/i), so ids read aloud well.
const ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";
pub const LEN: usize = 8;

/// A fresh id; the caller checks it against existing runs and draws again on a clash.
pub fn generate() -> String {
    let mut seed = [0u8; 16];
    if getrandom(&mut seed).is_err() {
        // Fall back on time and pid; uniqueness is still checked by the caller.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        seed = (nanos ^ ((std::process::id() as u128) << 64)).to_le_bytes();
    }
    seed.iter()
        .take(LEN)
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

fn getrandom(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

/// Whether `s` looks like something `generate` made (used to validate names read from disk).
pub fn is_valid(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| ALPHABET.contains(&b))
}

/// What a RUN argument resolved to.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolved<'a> {
    One(&'a str),
    None,
    Ambiguous(Vec<&'a str>),
}

/// Resolve a unique prefix of a run id; an exact id always wins.
pub fn resolve<'a>(prefix: &str, ids: impl IntoIterator<Item = &'a str>) -> Resolved<'a> {
    if prefix.is_empty() {
        return Resolved::None;
    }
    let mut matches: Vec<&str> = ids
        .into_iter()
        .filter(|id| id.starts_with(prefix))
        .collect();
    if let Some(exact) = matches.iter().find(|id| **id == prefix) {
        return Resolved::One(exact);
    }
    matches.sort_unstable();
    match matches.len() {
        0 => Resolved::None,
        1 => Resolved::One(matches[0]),
        _ => Resolved::Ambiguous(matches),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_safe_and_distinct() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| generate()).collect();
        assert!(ids.len() > 990);
        for id in &ids {
            assert_eq!(id.len(), LEN);
            assert!(is_valid(id));
            assert!(git2::Branch::name_is_valid(&format!("flightdeck/{id}")).unwrap());
        }
    }

    #[test]
    fn prefixes_resolve() {
        let ids = ["abcd2345", "abce6789", "xyz23456"];
        assert_eq!(resolve("x", ids), Resolved::One("xyz23456"));
        assert_eq!(resolve("abcd", ids), Resolved::One("abcd2345"));
        assert_eq!(
            resolve("abc", ids),
            Resolved::Ambiguous(vec!["abcd2345", "abce6789"])
        );
        assert_eq!(resolve("q", ids), Resolved::None);
        assert_eq!(resolve("", ids), Resolved::None);
        assert_eq!(resolve("ab", ["ab", "abc"]), Resolved::One("ab"));
    }
}
