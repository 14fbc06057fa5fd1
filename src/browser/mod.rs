//! The browser-to-code loop's parts: Chromium (`chrome`) and its private DevTools channel
//! (`pipe`), visiting a page (`visit`), folding
//! what was found into a report (`report`), and leasing ports so runs never collide (`ports`).

pub mod chrome;
pub mod diff;
pub mod pipe;
pub mod ports;
pub mod report;
pub mod visit;
