//! ls, show, logs.

use color_eyre::eyre::{eyre, Result};

use crate::client::Client;
use crate::proof::timeline;
use crate::protocol::{Command, Reply};

use super::format;

pub async fn ls(client: &Client, json: bool, all: bool) -> Result<i32> {
    let mut runs = match client.request(&Command::List).await? {
        Reply::Runs { runs } => runs,
        other => return Err(eyre!("unexpected answer from the server: {other:?}")),
    };
    if !all {
        runs.retain(|r| !r.is_stale_cleaned());
    }
    if json {
        // Straight to stdout: with hundreds of runs the text is a megabyte.
        use std::io::Write;
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
        let written = serde_json::to_writer_pretty(&mut out, &runs)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
            .and_then(|()| out.flush());
        match written {
            // `ls --json | head` closed the pipe: what was wanted was read.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other?,
        }
    } else if runs.is_empty() {
        println!("no runs yet; start one with: flightdeck run \"TASK\"");
    } else {
        print!("{}", format::table(&runs));
    }
    Ok(0)
}

pub async fn show(client: &Client, run: &str, json: bool) -> Result<i32> {
    let (record, proof) = match client.request(&Command::Show { run: run.into() }).await? {
        Reply::Shown { run, proof } => (run, proof),
        other => return Err(eyre!("unexpected answer from the server: {other:?}")),
    };
    if json {
        let mut value = serde_json::to_value(&*record)?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert("proof".into(), serde_json::to_value(&*proof)?);
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", format::show(&record, &proof));
    }
    Ok(0)
}

pub async fn logs(client: &Client, run: &str, follow: bool) -> Result<i32> {
    let mut stream = client
        .stream(&Command::Timeline {
            run: run.into(),
            follow,
            tail: None,
        })
        .await?;
    use std::io::Write;
    let stdout = std::io::stdout();
    while let Some(reply) = stream.next().await? {
        if let Reply::Line { line } = reply {
            let mut out = stdout.lock();
            for row in timeline::rows(line)
                .iter()
                .flat_map(timeline::format_human_lines)
            {
                // A closed pipe (`| head`) ends the command quietly.
                if writeln!(out, "{row}").is_err() {
                    return Ok(0);
                }
            }
            if out.flush().is_err() {
                return Ok(0);
            }
        }
    }
    Ok(0)
}
