//! Unbounded input (issue 20, finding 9): a huge request body, floods of idle connections to
//! the gateway and to the control socket, a client that gives up, a config file that never
//! ends, and another local user holding a stolen run token. None of them may cost the server
//! much memory, stop it answering, or get anything done.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::provider::{json, Provider};
use crate::common::*;
use serde_json::json as j;

const KEY: &str = "sk-ant-SECRET-flood-7781";
const MIB: u64 = 1024 * 1024;

/// The flood tests measure time and memory: one at a time, so they do not load each other.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn config(port: u16) -> String {
    format!(
        r#"
[providers.anthropic]
kind = "anthropic"
base_url = "http://127.0.0.1:{port}"
api_key_env = "FD_TEST_ANTHROPIC_KEY"

[agents.waiter]
# Writes its environment (whole, then renamed), then waits to be killed.
command = ["sh", "-c", "env > \"$1.tmp\" && mv \"$1.tmp\" \"$1\" && exec sleep 600", "sh", "{{worktree}}/../env-{{run_id}}"]

[agents.tiny]
command = ["sh", "-c", "echo done > out.txt"]
"#
    )
}

fn env_with_key(provider_port: u16) -> Env {
    let mut env = Env::new(&config(provider_port));
    env.vars.push(("FD_TEST_ANTHROPIC_KEY".into(), KEY.into()));
    env
}

/// Start the server detached, under the shell `limits` given (`ulimit -n 256`); its pid.
fn serve(env: &Env, limits: &str) -> i32 {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("{limits} && exec {BIN} serve --detach"))
        .env("FLIGHTDECK_HOME", &env.home)
        .env("FLIGHTDECK_CONFIG", &env.config)
        .env("XDG_CONFIG_HOME", env.path().join("xdg"))
        .envs(env.vars.iter().map(|(k, v)| (k, v)))
        .current_dir(env.path())
        .output()
        .expect("start the server");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.server_pid()
}

/// Start a run of `waiter` and return its id and gateway base URL (`http://.../r/TOKEN/anthropic`).
fn run_with_gateway(env: &Env) -> (String, String) {
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "waiter", "wait");
    let wt = PathBuf::from(env.record(&id)["worktree"].as_str().unwrap());
    let env_file = wt.parent().unwrap().join(format!("env-{id}"));
    let mut base = String::new();
    wait_until("the agent's environment", || {
        base = std::fs::read_to_string(&env_file)
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("ANTHROPIC_BASE_URL="))
            .unwrap_or_default()
            .to_string();
        !base.is_empty()
    });
    (id, base)
}

/// `127.0.0.1:PORT` and the path of a URL.
fn split_url(url: &str) -> (String, String) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    (host.to_string(), format!("/{path}"))
}

/// VmRSS and VmHWM of a process, in kB.
fn memory_kb(pid: i32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// How many descriptors a process holds.
fn fds_of(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Let this test process hold thousands of sockets.
fn raise_own_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a stack value.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Run a command with a deadline (killed past it): how long it took, and its output.
fn timed(mut cmd: Command, limit: Duration) -> (Duration, Option<Output>) {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return (started.elapsed(), child.wait_with_output().ok());
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return (started.elapsed(), None);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One POST with a deadline on every step: (status, body), or None when nothing came back.
fn post_within(url: &str, body: &str, limit: Duration) -> Option<(u16, String)> {
    let (host, path) = split_url(url);
    let addr = host.parse().ok()?;
    let mut s = TcpStream::connect_timeout(&addr, limit).ok()?;
    s.set_read_timeout(Some(limit)).ok()?;
    s.set_write_timeout(Some(limit)).ok()?;
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// Send a request with a `total`-byte body (chunked, or with a Content-Length) from one fixed
/// buffer, until all is sent, the server answers, or the connection closes. Returns the
/// answer's status (0: none) and how many body bytes were written.
fn flood(url: &str, total: u64, chunked: bool) -> (u16, u64) {
    let (host, path) = split_url(url);
    let mut s = TcpStream::connect(&host).expect("connect to the gateway");
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_string()
    } else {
        format!("Content-Length: {total}")
    };
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{framing}\r\n\r\n"
    )
    .unwrap();
    // The answer is read as it comes: a server that answers and closes while we still write
    // may reset the connection, and the answer must not be lost with it.
    let answered = Arc::new(AtomicBool::new(false));
    let mut reader = s.try_clone().unwrap();
    let seen = answered.clone();
    let reading = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            if got.windows(2).any(|w| w == b"\r\n") {
                seen.store(true, Ordering::SeqCst);
            }
        }
        let text = String::from_utf8_lossy(&got).into_owned();
        text.split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0u16)
    });
    let block = vec![b' '; 64 * 1024];
    let mut sent = 0u64;
    while sent < total && !answered.load(Ordering::SeqCst) {
        let n = (total - sent).min(block.len() as u64) as usize;
        let wrote = if chunked {
            write!(s, "{n:x}\r\n")
                .and_then(|_| s.write_all(&block[..n]))
                .and_then(|_| s.write_all(b"\r\n"))
        } else {
            s.write_all(&block[..n])
        };
        if wrote.is_err() {
            break;
        }
        sent += n as u64;
    }
    if chunked && sent == total {
        let _ = s.write_all(b"0\r\n\r\n");
    }
    let status = reading.join().unwrap_or(0);
    (status, sent)
}

#[test]
fn a_huge_body_is_refused_as_it_arrives_not_buffered() {
    let _one = one_at_a_time();
    let provider = Provider::start(vec![json(
        j!({"id":"msg_1","model":"claude-haiku-4-5","usage":{"input_tokens":10,"output_tokens":10}}),
    )]);
    let env = env_with_key(provider.port);
    let pid = serve(&env, "true");
    let (_id, base) = run_with_gateway(&env);
    let url = format!("{base}/v1/messages");
    let (rss, hwm_before) = memory_kb(pid);
    eprintln!(
        "server before: VmRSS {} MB, VmHWM {} MB",
        rss / 1024,
        hwm_before / 1024
    );

    let started = Instant::now();
    let (status, sent) = flood(&url, 600 * MIB, false);
    let (rss, hwm) = memory_kb(pid);
    eprintln!(
        "600 MB body with Content-Length: {status} after {:.2}s, {:.1} MB of it written; server VmRSS {} MB, VmHWM {} MB",
        started.elapsed().as_secs_f64(),
        sent as f64 / MIB as f64,
        rss / 1024,
        hwm / 1024
    );
    assert_eq!(status, 413, "the oversized body is refused");
    assert!(
        sent < 64 * MIB,
        "the server read {sent} bytes of a body its Content-Length said was too large"
    );

    let started = Instant::now();
    let (status, sent) = flood(&url, 200 * MIB, true);
    let (rss, hwm) = memory_kb(pid);
    eprintln!(
        "200 MB chunked body: {status} after {:.2}s, {:.1} MB of it written; server VmRSS {} MB, VmHWM {} MB",
        started.elapsed().as_secs_f64(),
        sent as f64 / MIB as f64,
        rss / 1024,
        hwm / 1024
    );
    assert_eq!(status, 413, "the oversized chunked body is refused");
    assert!(
        sent < 80 * MIB,
        "the server read {sent} bytes of a chunked body past its 32 MiB cap"
    );
    // What the floods added, not the server's resting size (which other features move): at
    // most the 32 MiB a chunked body may fill before it is refused, and some slack.
    assert!(
        hwm.saturating_sub(hwm_before) < 48 * 1024,
        "the server's memory grew by {} MB (from {} MB to {} MB)",
        hwm.saturating_sub(hwm_before) / 1024,
        hwm_before / 1024,
        hwm / 1024
    );

    // The gateway still forwards a call of ordinary size.
    let answer = post_within(
        &url,
        r#"{"model":"claude-haiku-4-5","max_tokens":10,"messages":[]}"#,
        Duration::from_secs(10),
    );
    assert_eq!(answer.map(|a| a.0), Some(200));
}

/// Hold up to `n` idle TCP connections to `addr`, trying for at most 20 s.
fn hold_tcp(addr: &str, n: usize) -> Vec<TcpStream> {
    let addr = addr.parse().expect("a socket address");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut held = Vec::with_capacity(n);
    while held.len() < n && Instant::now() < deadline {
        if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            held.push(s);
        }
    }
    held
}

/// Hold up to `n` idle connections to a Unix socket, trying for at most 20 s. Connecting does
/// not block: a full backlog is a failed try, not a hang.
fn hold_unix(path: &Path, n: usize) -> Vec<std::os::unix::net::UnixStream> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut held = Vec::with_capacity(n);
        while held.len() < n && Instant::now() < deadline {
            match tokio::net::UnixStream::connect(path).await {
                Ok(s) => held.extend(s.into_std().ok()),
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
        held
    })
}

/// `ls` and a `run` answer within `bound` (and the figures are printed).
fn still_answers(env: &Env, repo: &Path, what: &str, bound: Duration) {
    let (took, out) = timed(env.cmd(&["ls"]), Duration::from_secs(30));
    eprintln!("{what}: `ls` answered in {:.3}s", took.as_secs_f64());
    let out = out.unwrap_or_else(|| panic!("{what}: `ls` did not answer within 30 s"));
    assert!(
        out.status.success(),
        "{what}: ls failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(took < bound, "{what}: `ls` took {took:?}");

    let repo = repo.to_str().unwrap();
    let (took, out) = timed(
        env.cmd(&["run", "--repo", repo, "--agent", "tiny", "still here"]),
        Duration::from_secs(30),
    );
    eprintln!("{what}: `run` answered in {:.3}s", took.as_secs_f64());
    let out = out.unwrap_or_else(|| panic!("{what}: `run` did not answer within 30 s"));
    assert!(
        out.status.success(),
        "{what}: run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(took < bound, "{what}: `run` took {took:?}");
}

#[test]
fn idle_connections_to_the_control_socket_do_not_lock_it() {
    let _one = one_at_a_time();
    raise_own_fd_limit();
    let env = Env::new(&config(9));
    // The issue's setting: a server with 256 descriptors.
    let pid = serve(&env, "ulimit -n 256");
    let repo = git_repo(env.path(), "repo");

    let started = Instant::now();
    let held = hold_unix(&env.home.join("flightdeck.sock"), 2000);
    let fds = fds_of(pid);
    eprintln!(
        "{} idle connections to the control socket opened in {:.2}s; the server holds {fds} descriptors",
        held.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(held.len(), 2000, "the socket stopped accepting connections");
    still_answers(
        &env,
        &repo,
        "2000 idle control connections",
        Duration::from_secs(5),
    );
    eprintln!("afterwards the server holds {} descriptors", fds_of(pid));
    drop(held);
}

#[test]
fn idle_connections_to_the_gateway_do_not_lock_the_server() {
    let _one = one_at_a_time();
    raise_own_fd_limit();
    let provider = Provider::start(vec![json(
        j!({"id":"msg_1","model":"claude-haiku-4-5","usage":{"input_tokens":10,"output_tokens":10}}),
    )]);
    let env = env_with_key(provider.port);
    let pid = serve(&env, "ulimit -n 256");
    let (_id, base) = run_with_gateway(&env);
    let (host, _) = split_url(&base);
    let repo = env.path().join("repo");

    let started = Instant::now();
    let held = hold_tcp(&host, 2000);
    let fds = fds_of(pid);
    eprintln!(
        "{} idle connections to the gateway opened in {:.2}s; the server holds {fds} descriptors",
        held.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        held.len(),
        2000,
        "the gateway stopped accepting connections"
    );
    still_answers(
        &env,
        &repo,
        "2000 idle gateway connections",
        Duration::from_secs(5),
    );
    // A real agent's call still goes through.
    let started = Instant::now();
    let answer = post_within(
        &format!("{base}/v1/messages"),
        r#"{"model":"claude-haiku-4-5","max_tokens":10,"messages":[]}"#,
        Duration::from_secs(30),
    );
    eprintln!(
        "2000 idle gateway connections: a model call answered {:?} in {:.3}s",
        answer.as_ref().map(|a| a.0),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(answer.map(|a| a.0), Some(200));
    eprintln!("afterwards the server holds {} descriptors", fds_of(pid));
    drop(held);
}

#[test]
fn idle_connections_are_closed_after_a_while() {
    let provider = Provider::start(vec![]);
    let env = env_with_key(provider.port);
    serve(&env, "true");
    let port: u16 = std::fs::read_to_string(env.home.join("gateway.port"))
        .expect("gateway.port")
        .trim()
        .parse()
        .expect("a port");
    let socket = env.home.join("flightdeck.sock");
    // Both at once: each waits for the server to hang up, for at most a minute.
    let control = std::thread::spawn(move || {
        let mut s = std::os::unix::net::UnixStream::connect(socket).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let started = Instant::now();
        let n = s.read(&mut [0u8; 64]);
        (started.elapsed(), n.map_err(|e| e.kind()))
    });
    let gateway = std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let started = Instant::now();
        let n = s.read(&mut [0u8; 64]);
        (started.elapsed(), n.map_err(|e| e.kind()))
    });
    let (took, read) = control.join().unwrap();
    eprintln!(
        "an idle control connection was closed after {:.1}s",
        took.as_secs_f64()
    );
    assert_eq!(read, Ok(0), "the server hung up");
    assert!(took >= Duration::from_secs(5) && took < Duration::from_secs(30));
    let (took, read) = gateway.join().unwrap();
    eprintln!(
        "an idle gateway connection was closed after {:.1}s",
        took.as_secs_f64()
    );
    assert_eq!(read, Ok(0), "the gateway hung up");
    assert!(took >= Duration::from_secs(5) && took < Duration::from_secs(50));
}

/// Sends SIGCONT to a stopped process when dropped, whatever happened meanwhile.
struct Stopped(i32);

impl Stopped {
    fn stop(pid: i32) -> Stopped {
        let ok = Command::new("kill")
            .args(["-STOP", &pid.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -STOP {pid}");
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.0.to_string()])
            .status();
    }
}

#[test]
fn a_request_whose_client_has_gone_is_not_carried_out() {
    let env = Env::new(&config(9));
    let pid = serve(&env, "true");
    let repo = git_repo(env.path(), "repo");
    let request = j!({
        "cmd": "run",
        "task": "nobody waits for this",
        "repo": repo,
        "agent": "tiny",
        "base": null,
        "config": env.config,
    });
    {
        // The server is busy (stopped): the client sends its request, gives up and goes.
        let _stopped = Stopped::stop(pid);
        let mut s = std::os::unix::net::UnixStream::connect(env.home.join("flightdeck.sock"))
            .expect("connect");
        s.write_all(format!("{request}\n").as_bytes()).unwrap();
        drop(s);
    }
    wait_until("the server to say it dropped the request", || {
        std::fs::read_to_string(env.home.join("server.log"))
            .unwrap_or_default()
            .contains("went away before")
    });
    let runs = env.json(&["ls", "--json"]);
    assert_eq!(
        runs.as_array().map(Vec::len),
        Some(0),
        "the run was started: {runs:#}"
    );
    // A client that stays gets its run.
    env.start(&repo, "tiny", "somebody waits");
}

#[test]
fn a_config_file_that_never_ends_is_refused_at_once() {
    let env = Env::new(&config(9));
    // Should the server read /dev/zero whole after all, it dies here instead of eating the
    // machine.
    serve(&env, "ulimit -v 4000000");
    let repo = git_repo(env.path(), "repo");
    std::os::unix::fs::symlink("/dev/zero", repo.join(".flightdeck.toml")).unwrap();
    let (took, out) = timed(
        env.cmd(&[
            "run",
            "--repo",
            repo.to_str().unwrap(),
            "--agent",
            "tiny",
            "t",
        ]),
        Duration::from_secs(60),
    );
    let out = out.expect("`run` answers");
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!(
        "`run` with .flightdeck.toml -> /dev/zero answered in {:.3}s: {stderr}",
        took.as_secs_f64()
    );
    assert!(!out.status.success());
    assert!(
        stderr.contains(".flightdeck.toml") && stderr.contains("not a regular file"),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(5));

    // A regular file past the cap: refused with the limit named.
    std::fs::remove_file(repo.join(".flightdeck.toml")).unwrap();
    let big = format!("# {}\n", "x".repeat(2 * MIB as usize));
    std::fs::write(repo.join(".flightdeck.toml"), big).unwrap();
    let stderr = env.fails(&[
        "run",
        "--repo",
        repo.to_str().unwrap(),
        "--agent",
        "tiny",
        "t",
    ]);
    assert!(
        stderr.contains(".flightdeck.toml") && stderr.contains("1 MiB"),
        "{stderr}"
    );
    // `trust` reads it the same way.
    let stderr = env.fails(&["trust", "--repo", repo.to_str().unwrap()]);
    assert!(stderr.contains("1 MiB"), "{stderr}");
}

/// `fdtest2`, a second Unix user (created when missing); None when the tests cannot act as one.
fn second_user() -> Option<&'static str> {
    other_user::available().then_some(other_user::NAME)
}

/// `curl` POSTs `body` to `url`, as `user` when given: (status, body).
fn curl(user: Option<&str>, url: &str, body: &str) -> (u16, String) {
    let mut cmd = match user {
        Some(u) => {
            let mut c = Command::new("runuser");
            c.args(["-u", u, "--", "curl"]);
            c
        }
        None => Command::new("curl"),
    };
    let out = cmd
        .args([
            "-sS",
            "--max-time",
            "20",
            "-w",
            "\n%{http_code}",
            "-X",
            "POST",
        ])
        .args(["-H", "content-type: application/json", "--data", body, url])
        .current_dir("/")
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

#[test]
fn another_user_with_a_stolen_token_is_refused() {
    let Some(other) = second_user() else { return };
    let provider = Provider::start(vec![json(
        j!({"id":"msg_1","model":"claude-haiku-4-5","usage":{"input_tokens":10,"output_tokens":10}}),
    )]);
    let env = env_with_key(provider.port);
    serve(&env, "true");
    let (id, base) = run_with_gateway(&env);
    let url = format!("{base}/v1/messages");
    let body = r#"{"model":"claude-haiku-4-5","max_tokens":10,"messages":[]}"#;

    let (status, answer) = curl(Some(other), &url, body);
    eprintln!("as {other}: {status} {answer}");
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("another user"), "{answer}");
    assert!(
        provider.requests().is_empty(),
        "the call reached the provider"
    );
    let refused = env.events_of(&id, "gateway.refused");
    assert!(
        refused.iter().any(|e| e["reason"] == "other_user"),
        "the run's timeline says so: {refused:#?}"
    );

    let (status, answer) = curl(None, &url, body);
    eprintln!("as the server's own user: {status}");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(provider.requests().len(), 1);
}

#[test]
fn a_run_has_at_most_64_calls_in_flight() {
    let provider = Provider::start(vec![]);
    let env = env_with_key(provider.port);
    serve(&env, "true");
    let (id, base) = run_with_gateway(&env);
    let url = format!("{base}/v1/messages");
    let body = r#"{"model":"claude-haiku-4-5","max_tokens":10,"messages":[]}"#;
    // Paused, the run's calls are held: each stays in flight until the run ends.
    env.ok(&["pause", &id]);
    let held: Vec<_> = (0..64)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || post_within(&url, body, Duration::from_secs(60)))
        })
        .collect();
    wait_until("64 held calls", || {
        env.events_of(&id, "gateway.held").len() >= 64
    });
    let answer = post_within(&url, body, Duration::from_secs(10));
    let (status, text) = answer.expect("an answer at once");
    eprintln!("the 65th call: {status} {text}");
    assert_eq!(status, 429, "{text}");
    assert!(text.contains("64 model calls in flight"), "{text}");
    // The run ends: its held calls are answered and their places freed.
    env.ok(&["kill", &id]);
    for h in held {
        let answered = h.join().unwrap();
        assert!(answered.is_some_and(|(s, _)| s != 200 && s != 429));
    }
    assert!(provider.requests().is_empty());
}
