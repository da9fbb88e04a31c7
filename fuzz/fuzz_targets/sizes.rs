//! Disk and partition sizes and `--disk-add-part` definitions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xenguest_mkimage::validate::{self, Partition};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(mb) = validate::size_mb("--disk-size", text) {
        // Only digits with an optional G or M suffix are sizes.
        let digits = text.trim_end_matches(['G', 'M']);
        assert!(!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()), "{text:?}");
        assert!(text.len() - digits.len() <= 1, "{text:?}");
        assert!(mb <= u64::MAX / (1024 * 1024));
    }
    let _ = validate::number("--xen-vcpus", text, 1, 4096);
    if let Ok(p) = Partition::parse("--disk-add-part", text) {
        assert!((1..=4).contains(&p.number));
        assert!(p.size_mb > 0);
        let value = p.disk_cfg_value();
        let back = Partition::from_disk_cfg(p.number, &value).expect("a partition re-reads its own disk.cfg value");
        assert_eq!(back, p);
        validate::shell_value("DISK_PART", &value).expect("a partition value is safe in disk.cfg");
    }
});
