//! The TOML guest description: parsing (with line and column in errors),
//! lowering to operations (every value goes through the declarations), and
//! `build --set` over it.
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use xenguest_mkimage::spec::{substitute, GuestSpec};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/fuzz/guest.toml");
    let mut defines = BTreeMap::new();
    defines.insert("DEPLOY".to_owned(), "/deploy".to_owned());
    defines.insert("X".to_owned(), "1".to_owned());
    let _ = substitute(text, &defines, "fuzz");
    match GuestSpec::parse(text, path) {
        Ok(mut spec) => {
            let _ = spec.lower(path, &defines);
            // The first line as a `--set KEY=VALUE` over the description.
            if spec.set(text.lines().next().unwrap_or_default()).is_ok() {
                let _ = spec.lower(path, &defines);
            }
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains("guest.toml"), "the error does not name the file: {msg}");
        }
    }
});
