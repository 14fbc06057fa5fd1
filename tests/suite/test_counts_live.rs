//! Test counts read from the real runners' output, captured here: each runner runs a small
//! suite of two passing tests, one failing and one skipped (stdout and stderr together, as a
//! smoke check sees them), and flightdeck's parser must count exactly that.
//!
//! The runners: cargo test, python3's unittest, node --test (always here); pytest, jest and
//! vitest (pinned in tests/test_runners, installed by .ci/run) and go test (Debian's golang)
//! are skipped when absent, unless FLIGHTDECK_TEST_RUNNERS=required (CI sets it).

use std::path::{Path, PathBuf};
use std::process::Command;

use flightdeck::proof::test_counts::{parse, Runner};

fn runners_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/test_runners")
}

fn required() -> bool {
    std::env::var("FLIGHTDECK_TEST_RUNNERS").is_ok_and(|v| v == "required")
}

/// Whether `program` can run here (`program ARG` answers); when it cannot and runners are
/// required, the test fails.
fn present(program: &Path, arg: &str, what: &str) -> bool {
    let ok = Command::new(program)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !required(),
            "{what} is required (FLIGHTDECK_TEST_RUNNERS=required) but {} does not run",
            program.display()
        );
        eprintln!("{what}: not installed here, skipped");
    }
    ok
}

/// Run `argv` in `dir` with stderr joined to stdout; the output and whether it failed.
fn captured(dir: &Path, argv: &[&str], env: &[(&str, &Path)]) -> String {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#""$@" 2>&1"#)
        .arg("sh")
        .args(argv)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("CI", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("sh");
    assert!(
        !out.status.success(),
        "{argv:?} should fail (one test fails):\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// Two passed, one failed, one skipped, by `runner`.
fn counted(output: &str, runner: Runner) {
    let t = parse(output.as_bytes()).unwrap_or_else(|| panic!("no counts in:\n{output}"));
    assert_eq!(
        (t.runner, t.passed, t.failed, t.skipped),
        (runner, 2, 1, 1),
        "from:\n{output}"
    );
}

#[test]
fn cargo_test() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"counted\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n",
            ),
            (
                "src/lib.rs",
                "#[cfg(test)]\nmod tests {\n    #[test]\n    fn one() {}\n    #[test]\n    fn two() {}\n    #[test]\n    fn three() { assert_eq!(1 + 1, 3); }\n    #[test]\n    #[ignore]\n    fn four() {}\n}\n",
            ),
        ],
    );
    let target = dir.path().join("target");
    let out = captured(
        dir.path(),
        &["cargo", "test", "--offline", "--lib", "--no-fail-fast"],
        &[("CARGO_TARGET_DIR", &target)],
    );
    counted(&out, Runner::Cargo);
}

#[test]
fn python_unittest() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[(
            "test_calc.py",
            "import unittest\n\n\nclass T(unittest.TestCase):\n    def test_one(self):\n        pass\n\n    def test_two(self):\n        pass\n\n    def test_three(self):\n        self.assertEqual(1 + 1, 3)\n\n    @unittest.skip('later')\n    def test_four(self):\n        pass\n",
        )],
    );
    for verbose in [false, true] {
        let mut argv = vec!["python3", "-m", "unittest"];
        if verbose {
            argv.push("-v");
        }
        counted(&captured(dir.path(), &argv, &[]), Runner::Unittest);
    }
}

#[test]
fn node_test() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[(
            "calc.test.mjs",
            "import { test } from 'node:test';\nimport assert from 'node:assert';\ntest('one', () => {});\ntest('two', () => {});\ntest('three', () => { assert.strictEqual(1 + 1, 3); });\ntest('four', { skip: true }, () => {});\n",
        )],
    );
    // Its default reporter into a file, and the spec reporter.
    counted(
        &captured(dir.path(), &["node", "--test"], &[]),
        Runner::Node,
    );
    counted(
        &captured(dir.path(), &["node", "--test", "--test-reporter=spec"], &[]),
        Runner::Node,
    );
}

#[test]
fn pytest() {
    let pytest = runners_dir().join(".venv/bin/pytest");
    if !present(&pytest, "--version", "pytest") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[(
            "test_calc.py",
            "import pytest\n\n\ndef test_one():\n    pass\n\n\ndef test_two():\n    pass\n\n\ndef test_three():\n    assert 1 + 1 == 3\n\n\n@pytest.mark.skip(reason='later')\ndef test_four():\n    pass\n",
        )],
    );
    let p = pytest.to_str().unwrap();
    for argv in [
        vec![p, "-p", "no:cacheprovider"],
        vec![p, "-q", "-p", "no:cacheprovider"],
    ] {
        counted(&captured(dir.path(), &argv, &[]), Runner::Pytest);
    }
}

const JS_SUITE: &str = "test('one', () => {});\ntest('two', () => {});\ntest('three', () => { expect(1 + 1).toBe(3); });\ntest.skip('four', () => {});\n";

#[test]
fn jest() {
    let jest = runners_dir().join("node_modules/.bin/jest");
    if !present(&jest, "--version", "jest") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[("calc.test.js", JS_SUITE), ("jest.config.json", "{}\n")],
    );
    let root = dir.path().to_str().unwrap();
    let out = captured(
        dir.path(),
        &[jest.to_str().unwrap(), "--rootDir", root, "--ci"],
        &[],
    );
    counted(&out, Runner::Jest);
}

#[test]
fn vitest() {
    let vitest = runners_dir().join("node_modules/.bin/vitest");
    if !present(&vitest, "--version", "vitest") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[("calc.test.js", JS_SUITE)]);
    let root = dir.path().to_str().unwrap();
    let out = captured(
        dir.path(),
        &[vitest.to_str().unwrap(), "run", "--root", root, "--globals"],
        &[],
    );
    counted(&out, Runner::Vitest);
}

#[test]
fn go_test() {
    if !present(Path::new("go"), "version", "go") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("go.mod", "module counted\n\ngo 1.19\n"),
            (
                "calc_test.go",
                "package counted\n\nimport \"testing\"\n\nfunc TestOne(t *testing.T) {}\nfunc TestTwo(t *testing.T) {}\nfunc TestThree(t *testing.T) {\n\tif 1+1 != 3 {\n\t\tt.Fatal(\"1 + 1 is not 3\")\n\t}\n}\nfunc TestFour(t *testing.T) { t.Skip(\"later\") }\n",
            ),
        ],
    );
    let cache = dir.path().join("gocache");
    let path = dir.path().join("gopath");
    let env = [("GOCACHE", cache.as_path()), ("GOPATH", path.as_path())];
    for argv in [
        vec!["go", "test", "-v", "./..."],
        vec!["go", "test", "-json", "./..."],
    ] {
        counted(&captured(dir.path(), &argv, &env), Runner::Go);
    }
}
