//! The forge repository a git remote points at: `owner/name` (or a GitLab project path) from
//! its URL, in any of the forms git takes.

/// The host and path of a remote URL: `git@host:o/r.git`, `ssh://git@host:22/o/r.git`,
/// `https://host/o/r.git`, `git://host:9418/o/r`.
pub fn host_and_path(url: &str) -> Option<(String, String)> {
    let url = url.trim();
    let (host, path) = if let Some((scheme, rest)) = url.split_once("://") {
        if scheme.is_empty() {
            return None;
        }
        let (authority, path) = rest.split_once('/')?;
        let host = authority.rsplit('@').next()?.split(':').next()?;
        (host.to_string(), path.to_string())
    } else if let Some((left, path)) = url.split_once(':') {
        // scp-like: [user@]host:path (not a Windows drive, not a local path).
        if left.contains('/') || left.len() <= 1 {
            return None;
        }
        (left.rsplit('@').next()?.to_string(), path.to_string())
    } else {
        return None;
    };
    let path = path
        .trim_matches('/')
        .trim_end_matches(".git")
        .trim_matches('/')
        .to_string();
    (!host.is_empty() && path.contains('/')).then_some((host, path))
}

#[cfg(test)]
mod tests {
    use super::host_and_path;

    #[test]
    fn every_form_git_takes() {
        let want = Some(("github.com".to_string(), "o/r".to_string()));
        assert_eq!(host_and_path("git@github.com:o/r.git"), want);
        assert_eq!(host_and_path("https://github.com/o/r.git"), want);
        assert_eq!(host_and_path("https://user:tok@github.com/o/r"), want);
        assert_eq!(host_and_path("ssh://git@github.com:22/o/r.git"), want);
        assert_eq!(
            host_and_path("git://127.0.0.1:9418/group/sub/r.git"),
            Some(("127.0.0.1".into(), "group/sub/r".into()))
        );
        assert_eq!(host_and_path("/srv/git/r.git"), None);
        assert_eq!(host_and_path("../r"), None);
    }
}
