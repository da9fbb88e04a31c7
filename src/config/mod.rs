//! The three configuration files of an image, as typed, line-preserving
//! models: `params.cfg` and `disk.cfg` ([`ShellVars`]), and the xl
//! configuration `guest.cfg` plus `guest.d/*` ([`XlConfig`]).
//!
//! Each model keeps lines it does not understand verbatim, so an image made
//! or edited by another tool round-trips unchanged except for the lines an
//! operation sets.

mod disk;
mod params;
mod vars;
mod xen;

pub use disk::DiskConfig;
pub use params::{Params, DEFAULT_HEALTH_TIMEOUT};
pub use vars::ShellVars;
pub use xen::{read_line as read_xl_line, XlConfig, XlLine, XlValue, DEFAULT_GUEST_CFG};
