//! A host's run and the team's forge: `pr RUN` here opens its pull request from the host
//! (pushed from the host's copy with the host's git and forge config), and `merge RUN` lands
//! it through the forge's API once its checks pass there.

use crate::common::forge_fake::{git_remote, FakeCheck, FakeForge};
use crate::common::*;
use crate::forge::{config, TOKEN, TOKEN_VAR};
use crate::hosts::{run_on, wait_shown, OneHost};

#[test]
fn a_host_s_run_opens_its_pull_request_and_lands_through_the_forge_from_there() {
    let Some(w) = OneHost::start() else {
        return;
    };
    let forge = FakeForge::github(TOKEN);
    // The host's copy has its origin on the forge; the host's config says so, and its server
    // has the token (the forge is the host's to talk to).
    let remote = git_remote(w.dir.path());
    git(&w.remote.repo, &["remote", "add", "origin", &remote.url]);
    git(&w.remote.repo, &["push", "-q", "origin", "main"]);
    forge.attach_remote("o/r", &remote.dir);
    let theirs = std::fs::read_to_string(w.remote_config()).unwrap();
    std::fs::write(
        w.remote_config(),
        format!(
            "{}{theirs}",
            config("github", &forge.url(), "manual", "repo = \"o/r\"")
        ),
    )
    .unwrap();
    w.configure("b1", |h| {
        h.replace(
            "[hosts.b1.env]\n",
            &format!("[hosts.b1.env]\n{TOKEN_VAR} = \"{TOKEN}\"\n"),
        )
    });
    let env = &w.env;

    let id = run_on(env, "b1", &w.repo, "noter", "add a note there");
    let r = wait_shown(env, &id, "ready there", |r| r["merge"] == "ready");
    assert!(r["pr"].is_null(), "opened before asked: {r:#}");
    let branch = r["branch"].as_str().unwrap().to_string();

    // pr: pushed from the host, opened on the forge, its URL said here.
    let out = env.ok(&["pr", &id]);
    let prs = forge.prs();
    assert_eq!(prs.len(), 1, "{out}");
    assert_eq!(prs[0].head, branch);
    assert!(
        out.trim().ends_with(&format!("/pull/{}", prs[0].number)),
        "{out}"
    );
    let pushed = git(&remote.dir, &["rev-parse", &format!("refs/heads/{branch}")]);
    let r = wait_shown(env, &id, "the PR in the record", |r| {
        r["pr"]["number"].is_u64()
    });
    assert_eq!(r["pr"]["head"].as_str().unwrap(), pushed.trim());

    // Its checks pass on the forge: merge lands it through the API, from the host.
    forge.set_checks(
        pushed.trim(),
        vec![FakeCheck::completed("unit", "success", "")],
    );
    wait_shown(env, &id, "checks passing", |r| {
        r["pr"]["checks"] == "passing"
    });
    env.ok(&["merge", &id]);
    let r = wait_shown(env, &id, "merged through the forge", |r| {
        r["merge"] == "merged"
    });
    assert_eq!(r["pr"]["state"], "merged", "{r:#}");
    assert!(forge.pr(prs[0].number).merged);
    assert_eq!(
        r["merged_commit"].as_str().unwrap(),
        git(&remote.dir, &["rev-parse", "refs/heads/main"]).trim()
    );
}
