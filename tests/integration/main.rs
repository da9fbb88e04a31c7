//! Integration tests: they run the real `xenguest-mkimage` binary.

#![allow(unreachable_pub)]
//!
//! One binary for all of them (`autotests = false` in Cargo.toml); each
//! module covers one area and uses the helpers of `support`.

mod support;

mod admission;
mod bash_grammar;
mod build;
mod cli;
mod conventions;
mod differential;
mod faults;
mod host;
mod hostile;
mod info;
mod interop;
mod manager;
mod migration;
mod release;
mod repro;
mod rough_edges;
mod rules;
mod settings;
mod sign;
mod update;
mod update_marks;
mod verified_bytes;
mod xl_policy;
