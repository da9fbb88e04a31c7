//! The image reader on arbitrary bytes: the tar index, name checks,
//! duplicate and type checks and the typed model must fail cleanly, never
//! panic, and never accept a member name the writer would refuse.
#![no_main]

use std::io::Read;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use xenguest_mkimage::image::{reader, tar, Member};
use xenguest_mkimage::{admit, validate};

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("fuzz.xenguest");
        (dir, path)
    })
    .1
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    std::fs::write(path, data).expect("write input");

    // The raw index, as `update` and `extract` see it.
    if let Ok(file) = std::fs::File::open(path) {
        if let Ok(entries) = tar::index(&file, path) {
            let len = data.len() as u64;
            for e in &entries {
                assert!(e.data_offset <= len && e.size <= len - e.data_offset, "{e:?} outside the file");
            }
        }
    }

    let Ok(opened) = reader::open(path, true) else {
        return;
    };
    for (name, _) in &opened.entries {
        // What the writer demands of a destination, but for `\` (harmless
        // on Linux, and a directory image may hold it).
        validate::member_name("member", &name.replace('\\', "_"))
            .expect("the reader let through a name that leaves the image");
    }
    let image = &opened.image;
    let stored = admit::Stored {
        opened: &opened,
        trusted: None,
        sidecar: false,
        progress: Default::default(),
    };
    let _ = admit::admit(admit::Candidate::Stored(stored), &admit::Policy::default());
    let _ = admit::admit(admit::Candidate::ToWrite(image), &admit::Policy::default());
    if let Some(p) = &image.params {
        let _ = p.render();
    }
    if let Some(d) = &image.disk {
        let _ = d.render();
        let _ = d.size_mb();
        let _ = d.partitions();
    }
    for m in image.members() {
        if let Member::File { path, blob, .. } = m {
            validate::member_name("member", &path.replace('\\', "_")).expect("member path");
            let mut buf = Vec::new();
            if let Ok(mut r) = blob.open() {
                let _ = r.read_to_end(&mut buf);
            }
            assert!(buf.len() as u64 <= blob.len());
        }
    }
});
