//! The browser-to-code loop's parts: Chromium (`chrome`) and its private DevTools channel
//! (`pipe`), visiting a page (`visit`), a screenshot against its baseline (`compare`), folding
//! what was found into a report (`report`), leasing ports so runs never collide (`ports`), and
//! reading a check's screenshots back for the cockpit (`pictures`).

pub mod chrome;
pub mod compare;
pub mod diff;
pub mod pictures;
pub mod pipe;
pub mod ports;
pub mod report;
pub mod visit;
