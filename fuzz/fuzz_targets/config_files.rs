//! `params.cfg`/`disk.cfg` (sourced by bash on the host) and the xl
//! configuration: parse, render, parse again. What the tool reads must
//! survive a write and read, and every line it writes as an assignment must
//! stay inside its double quotes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xenguest_mkimage::config::{DiskConfig, ShellVars, XlConfig, XlValue};

fn vars(v: &ShellVars) -> Vec<(String, String)> {
    v.vars().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    let shell = ShellVars::parse(text);
    let rendered = shell.render();
    let again = ShellVars::parse(&rendered);
    assert_eq!(vars(&shell), vars(&again), "variables changed across render/parse of {text:?}");
    assert_eq!(again.render(), ShellVars::parse(&again.render()).render());
    for (k, v) in shell.vars() {
        assert!(!v.contains(['"', '\\', '$', '`', '\n']), "unsafe value {v:?} read for {k}");
        assert!(k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    }

    let disk = DiskConfig::parse(text);
    let _ = disk.size_mb();
    let _ = disk.partitions();

    let xl = XlConfig::parse(text);
    let rendered = xl.render();
    let again = XlConfig::parse(&rendered);
    let settings = |c: &XlConfig| -> Vec<(String, String)> {
        c.settings().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
    };
    assert_eq!(settings(&xl), settings(&again), "settings changed across render/parse of {text:?}");
    for (_, raw) in xl.settings() {
        if let Some(v) = XlValue::parse(raw) {
            // A parsed value renders to text that parses back to itself.
            let shown = v.to_string();
            if !matches!(&v, XlValue::List(items) if items.iter().any(|i| i.contains(['\'', ',']))) {
                assert_eq!(XlValue::parse(&shown), Some(v.clone()), "{raw:?} -> {shown:?}");
            }
        }
    }
});
