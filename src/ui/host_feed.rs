//! A remote host's run feed: `Subscribe` through its client (ssh to its server), each run
//! tagged with the host. When the feed ends or cannot start, the cockpit is told and it is
//! tried again, waiting longer each time while the host stays away.

use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use crate::backoff::Retry;
use crate::client::Client;
use crate::protocol::{Command, Event, Reply};

use super::update::Msg;

const FIRST_RETRY: Duration = Duration::from_secs(1);
/// A feed silent this long (three of the server's heartbeats) is given up on: the link is up
/// but the host's server is stuck, or the link is gone without a word.
const SILENT: Duration = Duration::from_secs(45);
const MOST_RETRY: Duration = Duration::from_secs(30);

pub async fn feed(client: Client, tx: UnboundedSender<Msg>) {
    let host = client.host_name().to_string();
    let mut retry = Retry::new(FIRST_RETRY, MOST_RETRY);
    loop {
        let why = match client.stream(&Command::Subscribe).await {
            Ok(mut s) => loop {
                let Ok(next) = tokio::time::timeout(SILENT, s.next()).await else {
                    break format!(
                        "host {host} said nothing for {} s (its server may be stuck)",
                        SILENT.as_secs()
                    );
                };
                match next {
                    Ok(Some(Reply::Runs { runs })) => {
                        retry.reset();
                        let msg = Msg::HostRuns {
                            host: host.clone(),
                            runs,
                        };
                        if tx.send(msg).is_err() {
                            return;
                        }
                    }
                    Ok(Some(Reply::Event {
                        event: Event::Run { run },
                    })) => {
                        let msg = Msg::HostRun {
                            host: host.clone(),
                            run,
                        };
                        if tx.send(msg).is_err() {
                            return;
                        }
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => break format!("host {host} closed the connection"),
                    Err(e) => break e.to_string(),
                }
            },
            Err(e) => e.to_string(),
        };
        let msg = Msg::HostDown {
            host: host.clone(),
            why,
        };
        if tx.send(msg).is_err() {
            return;
        }
        tokio::time::sleep(retry.wait()).await;
    }
}
