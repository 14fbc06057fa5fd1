//! flightdeck: a terminal cockpit for AI coding agents running in parallel.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use clap::Parser;
use flightdeck::cli;

fn main() {
    if let Err(e) = color_eyre::install() {
        eprintln!("flightdeck: cannot install the error reporter: {e}");
    }
    let cli = cli::Cli::parse();
    // The shim stays small: no async runtime, no error reporter beyond its exit file.
    if let Some(cli::Cmd::Shim { dir, argv }) = &cli.command {
        std::process::exit(flightdeck::shim::main(dir, argv));
    }
    if let Some(cli::Cmd::Tether { argv, .. }) = &cli.command {
        std::process::exit(flightdeck::tether::main(argv));
    }
    flightdeck::log::init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("flightdeck: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = match runtime.block_on(cli::main(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("flightdeck: {e:#}");
            1
        }
    };
    // Don't wait for lingering blocking tasks (a follower, a log tail) at exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    std::process::exit(code);
}
