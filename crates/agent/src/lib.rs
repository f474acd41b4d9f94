//! The desktop agent's library: what only the desktop needs, beside the binary (`main.rs`) that
//! runs it and the tests that drive it.
//!
//! Module map:
//! - [`local`]: the embedded local network the app runs on by default (a devnet, this machine
//!   as provider, the buyer's jobs), or the owner's network; blocking methods for the commands.
//! - [`limits`]: the owner's limits on earning (hours, AC power, GPU temperature, other
//!   programs' GPU work) and the sensors that read them.

pub mod limits;
pub mod local;
