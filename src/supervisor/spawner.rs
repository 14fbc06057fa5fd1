//! Where the supervisor starts a run's processes (the agent's shim; the tethers of setup steps,
//! smoke checks, dev servers and Chromium): one door, injected like the clock
//! (`Options::spawner`), so a test can see every child start and all it gets from us.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

/// A child about to start: its program, arguments, whole environment and directory.
#[derive(Debug, Clone)]
pub struct Spawn {
    pub program: OsString,
    pub args: Vec<OsString>,
    /// Everything the child's environment holds: it inherits nothing from the server.
    pub env: Vec<(OsString, OsString)>,
    pub cwd: Option<PathBuf>,
}

type Observer = Arc<dyn Fn(&Spawn) + Send + Sync>;

/// Starts a run's processes; a test's may also watch each start (`Spawner::observed`).
#[derive(Clone, Default)]
pub struct Spawner {
    observer: Option<Observer>,
}

impl Spawner {
    pub fn system() -> Self {
        Self::default()
    }

    /// A spawner that shows `observe` every child just before it starts it.
    pub fn observed(observe: impl Fn(&Spawn) + Send + Sync + 'static) -> Self {
        Self {
            observer: Some(Arc::new(observe)),
        }
    }

    /// Start `cmd` with only the environment set on it. Every caller clears the server's
    /// environment (it holds the provider keys) already; clearing it here again makes that a
    /// rule, and makes what an observer sees the child's whole environment.
    pub fn spawn(
        &self,
        cmd: &mut tokio::process::Command,
    ) -> std::io::Result<tokio::process::Child> {
        let env: Vec<(OsString, OsString)> = cmd
            .as_std()
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
            .collect();
        if let Some(observe) = &self.observer {
            let std = cmd.as_std();
            observe(&Spawn {
                program: std.get_program().to_owned(),
                args: std.get_args().map(ToOwned::to_owned).collect(),
                env: env.clone(),
                cwd: std.get_current_dir().map(ToOwned::to_owned),
            });
        }
        cmd.env_clear().envs(env);
        cmd.spawn()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// What the observer sees is what the child gets, even from a command that did not clear
    /// the server's environment.
    #[tokio::test]
    async fn the_observer_sees_the_childs_whole_environment() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let spawner = Spawner::observed({
            let seen = seen.clone();
            move |s: &Spawn| seen.lock().unwrap().push(s.clone())
        });
        let mut cmd = tokio::process::Command::new("/usr/bin/env");
        cmd.env("FD_SPAWNER_TEST", "1")
            .current_dir("/")
            .stdout(std::process::Stdio::piped());
        let out = spawner
            .spawn(&mut cmd)
            .unwrap()
            .wait_with_output()
            .await
            .unwrap();
        let printed: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        assert_eq!(printed, ["FD_SPAWNER_TEST=1"]);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].program, "/usr/bin/env");
        assert!(seen[0].args.is_empty());
        assert_eq!(seen[0].env, [("FD_SPAWNER_TEST".into(), "1".into())]);
        assert_eq!(seen[0].cwd.as_deref(), Some(std::path::Path::new("/")));
    }
}
