//! Create, modify, check, verify and reproducibly build xenguest images.
//!
//! A xenguest image holds everything a Xen host needs to create a guest:
//! the xl configuration (`guest.cfg`, `guest.d/`), files it refers to
//! (`files/`: kernel, device tree, ramdisk), init scripts run on the host
//! (`init.pre/`, `init.d/`, `init.post/`), host parameters (`params.cfg`)
//! and a disk description with partition contents (`disk.cfg`, `disk/`).
//! It is stored as a directory or as an uncompressed tar of that directory
//! whose member names start with `./`.
//!
//! The library is organised as the binary uses it: front ends ([`cli`],
//! [`spec`]) lower to [`ops::Op`], which act on an [`image::Image`] read by
//! [`image::reader`] and written by [`image::writer`].

#![deny(missing_docs)]

pub mod admit;
pub mod checksum;
pub mod cli;
mod commands;
pub mod config;
pub mod digest;
pub mod error;
pub mod generate;
pub mod image;
pub mod interrupt;
mod json;
pub mod manager;
pub mod ops;
pub mod progress;
pub mod regular;
pub mod rules;
pub mod settings;
pub mod signature;
pub mod spec;
pub mod validate;
pub mod xl_policy;

pub use cli::run;

/// The version `--version` prints: the package version, and the git
/// revision it was built from when built from a git checkout (see
/// `build.rs`), e.g. `0.1.0 (git 1a2b3c4d5e6f)`.
pub const VERSION: &str = env!("XENGUEST_MKIMAGE_VERSION");
pub use error::{Error, Result};
