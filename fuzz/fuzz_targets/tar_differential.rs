//! The tar index against an independent reader, the `tar` crate's entry
//! iterator: whenever the index accepts an archive, both must see the same
//! members (names, directory or not, data offsets and sizes, hence the
//! same contents). The tool may refuse more; it may never read differently.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use xenguest_mkimage::image::tar::{self as index, Kind};

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("fuzz.tar");
        (dir, path)
    })
    .1
}

/// One member as a reader sees it.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    name: Vec<u8>,
    dir: bool,
    offset: u64,
    size: u64,
}

/// The `tar` crate's members, or `None` where it fails to read.
fn tar_crate(data: &[u8]) -> Option<Vec<Seen>> {
    let mut archive = tar::Archive::new(data);
    let mut out = Vec::new();
    for entry in archive.entries().ok()? {
        let entry = entry.ok()?;
        let kind = entry.header().entry_type();
        // Extension headers the iterator hands out rather than applies.
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() || kind.is_gnu_longname() || kind.is_gnu_longlink() {
            continue;
        }
        let name = entry.path_bytes().into_owned();
        // Old (v7) tar marks directories by a trailing slash alone.
        let dir = kind.is_dir() || ((kind.is_file() || kind.is_contiguous()) && name.ends_with(b"/"));
        out.push(Seen {
            name,
            dir,
            offset: entry.raw_file_position(),
            size: entry.size(),
        });
    }
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    std::fs::write(path, data).expect("write input");
    let file = std::fs::File::open(path).expect("open input");
    let Ok(entries) = index::index(&file, path) else {
        return;
    };
    let ours: Vec<Seen> = entries
        .iter()
        .map(|e| Seen {
            name: e.name.clone(),
            dir: e.kind == Kind::Dir,
            offset: e.data_offset,
            size: e.size,
        })
        .collect();
    let theirs = tar_crate(data).expect("the index accepted an archive the tar crate cannot read");
    assert_eq!(ours, theirs, "the index and the tar crate read different members");
});
