//! The xl policy: which xl settings an image may make, one rule for
//! `check` and for the host manager.
//!
//! The host manager owns some keys (it writes them itself), file-valued
//! keys must name files inside the guest's `files/`, and keys that reach
//! host resources need the host's permission by name
//! ([`crate::admit::Policy::allow_xl_keys`]).

use std::collections::BTreeSet;

use crate::admit::{Policy, Problem};
use crate::image::Image;

/// What the xl policy finds in an image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XlReport {
    /// Settings the policy refuses under the given host policy.
    pub problems: Vec<Problem>,
    /// Host permissions the image needs (xl keys a host must allow by
    /// name), whether or not `policy` grants them.
    pub permissions: BTreeSet<String>,
}

/// Judges the xl configuration of `image` (`guest.cfg` followed by the
/// `guest.d` files, as the host merges them) under `policy`.
pub fn check(image: &Image, policy: &Policy) -> XlReport {
    let _ = (image, policy);
    XlReport::default()
}
