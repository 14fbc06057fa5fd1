//! Other machines: runs made, supervised and recorded by a flightdeck server on another host,
//! reached over SSH (`[hosts.NAME]`). The CLI sends a command to the host a run is on; the
//! host's server owns the run as a local one owns its own.

pub mod bridge;
pub mod clone;
pub mod copy;
pub mod land;
pub mod route;
pub mod ssh;
pub mod tunnel;
