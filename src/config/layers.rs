//! Reading and merging the config layers, with errors that name the file and line.

use std::path::{Path, PathBuf};

use super::{Config, DEFAULTS};

/// Which files make up a run's config (the defaults and the user's file always take part).
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The repository whose `.flightdeck.toml` applies.
    pub repo: Option<PathBuf>,
    /// `--config FILE` or `FLIGHTDECK_CONFIG`.
    pub explicit: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}; check the path given with --config or FLIGHTDECK_CONFIG", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("malformed config {}, line {line}, column {column}: {message}; fix that line and try again", path.display())]
    Malformed {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("invalid config ({origin}): {message}")]
    Invalid { origin: String, message: String },
}

/// `~/.config/flightdeck/config.toml` (honouring `XDG_CONFIG_HOME`).
pub fn user_config_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "flightdeck").map(|d| d.config_dir().join("config.toml"))
}

/// Load and merge every layer that exists.
pub fn load(sources: &Sources) -> Result<Config, ConfigError> {
    let mut merged = parse_layer(DEFAULTS, Path::new("<built-in defaults>"))?;
    let mut origins = vec!["built-in defaults".to_string()];

    let mut optional: Vec<PathBuf> = Vec::new();
    if let Some(user) = user_config_path() {
        optional.push(user);
    }
    if let Some(repo) = &sources.repo {
        optional.push(repo.join(".flightdeck.toml"));
    }
    for path in optional {
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                merge(&mut merged, parse_layer(&text, &path)?);
                origins.push(path.display().to_string());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(ConfigError::Read { path, source }),
        }
    }
    if let Some(path) = &sources.explicit {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        merge(&mut merged, parse_layer(&text, path)?);
        origins.push(path.display().to_string());
    }

    let origin = origins.join(" + ");
    let config: Config =
        Config::deserialize_value(merged).map_err(|message| ConfigError::Invalid {
            origin: origin.clone(),
            message,
        })?;
    config
        .validate()
        .map_err(|message| ConfigError::Invalid { origin, message })?;
    Ok(config)
}

impl Config {
    fn deserialize_value(value: toml::Table) -> Result<Config, String> {
        use serde::Deserialize;
        Config::deserialize(value).map_err(|e| e.message().to_string())
    }
}

/// Parse one file and check it against the schema on its own, so a mistake is reported with
/// the file and line where it was made rather than after merging.
fn parse_layer(text: &str, path: &Path) -> Result<toml::Table, ConfigError> {
    let malformed = |e: toml::de::Error| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        ConfigError::Malformed {
            path: path.to_path_buf(),
            line,
            column,
            message: e.message().trim().to_string(),
        }
    };
    let table: toml::Table = toml::from_str(text).map_err(malformed)?;
    toml::from_str::<Config>(text).map_err(malformed)?;
    Ok(table)
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Tables merge key by key; anything else (arrays included) is replaced by the later layer.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn later_layers_win_and_tables_merge() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            ".flightdeck.toml",
            "max_parallel = 2\n[agents.mine]\ncommand = [\"true\"]\n",
        );
        let explicit = write(
            dir.path(),
            "extra.toml",
            "[agents.mine]\nenv = { A = \"1\" }\n",
        );
        let cfg = load(&Sources {
            repo: Some(dir.path().to_path_buf()),
            explicit: Some(explicit),
        })
        .unwrap();
        assert_eq!(cfg.max_parallel, 2);
        let mine = &cfg.agents["mine"];
        assert_eq!(mine.command, vec!["true"]);
        assert_eq!(mine.env["A"], "1");
        assert!(cfg.agents.contains_key("claude"), "defaults stay");
    }

    #[test]
    fn syntax_error_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "bad.toml", "max_parallel = 2\n\n[agents.x\n");
        let err = load(&Sources {
            repo: None,
            explicit: Some(p.clone()),
        })
        .unwrap_err();
        match &err {
            ConfigError::Malformed { path, line, .. } => {
                assert_eq!(path, &p);
                assert_eq!(*line, 3);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains("line 3"), "{err}");
    }

    #[test]
    fn wrong_type_and_unknown_key_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "c.toml", "# hi\nmax_parallel = \"four\"\n");
        let err = load(&Sources {
            repo: None,
            explicit: Some(p),
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("line 2"), "{err}");

        let p = write(dir.path(), "d.toml", "max_paralel = 3\n");
        let err = load(&Sources {
            repo: None,
            explicit: Some(p),
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("line 1") && err.contains("max_paralel"),
            "{err}"
        );
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let err = load(&Sources {
            repo: None,
            explicit: Some(PathBuf::from("/nonexistent/flightdeck.toml")),
        })
        .unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
    }
}
