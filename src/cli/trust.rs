//! `flightdeck trust`: allow a repository's `.flightdeck.toml`, exactly as it is now.

use std::path::PathBuf;

use color_eyre::eyre::{eyre, Result};

use crate::config::{self, TrustStore, REPO_FILE};
use crate::paths::Home;

pub async fn trust(
    home: &Home,
    repo: PathBuf,
    revoke: bool,
    explicit: Option<PathBuf>,
) -> Result<i32> {
    let home = home.clone();
    tokio::task::spawn_blocking(move || trust_blocking(&home, &repo, revoke, explicit)).await?
}

fn trust_blocking(
    home: &Home,
    repo: &std::path::Path,
    revoke: bool,
    explicit: Option<PathBuf>,
) -> Result<i32> {
    // Trust is the user's word: an agent (or anything a run started) does not give it.
    if crate::server::caller::inside_run(home) {
        return Err(eyre!(
            "refused: `flightdeck trust` runs inside a run; only you can trust a repository's file, from your own shell"
        ));
    }
    // The same repository a run would use: a subdirectory means its checkout.
    let source = crate::workspace::inspect(repo, None).map_err(|e| eyre!("{e}"))?;
    let file = source.dir().join(REPO_FILE);
    home.ensure()?;
    let store = TrustStore::in_home(home);
    if revoke {
        let had = store.revoke(&file).map_err(|e| eyre!("{e}"))?;
        if had {
            println!("{} is no longer trusted", file.display());
        } else {
            println!("{} was not trusted; nothing to do", file.display());
        }
        return Ok(0);
    }
    let Some((text, commands)) =
        config::check_repo_file(&file, explicit.as_deref()).map_err(|e| eyre!("{e}"))?
    else {
        eprintln!(
            "flightdeck: {} has no {REPO_FILE}; there is nothing to trust (runs there use only your own config)",
            source.dir().display()
        );
        return Ok(1);
    };
    let digest = store
        .trust(&file, text.as_bytes())
        .map_err(|e| eyre!("{e}"))?;
    println!(
        "trusted {} (sha256 {}); {}",
        file.display(),
        &digest[..12],
        if commands.is_empty() {
            "it brings no commands".to_string()
        } else {
            format!("runs may now use: {}", commands.join(", "))
        }
    );
    println!("any change to the file needs `flightdeck trust` again");
    Ok(0)
}
