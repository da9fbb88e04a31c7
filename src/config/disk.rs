//! `disk.cfg`: the guest disk the host manager creates.

use std::collections::BTreeSet;

use super::ShellVars;
use crate::error::{Error, Result};
use crate::validate::{self, Partition};

/// The default `disk.cfg`: no disk.
pub(crate) const DEFAULT_DISK_CFG: &str = "\
# Guest disk, sourced by the host's guest manager.
# Edit with xenguest-mkimage (--disk-*), not by hand.
# DISK_SIZE: disk size in MB (M suffix) or GB; 0 means no disk.
# DISK_DEVICE: device to use, empty for the manager's default volume group.
# DISK_PARTn: SIZE:FS:CONTENT for primary partition n (1 to 4).
DISK_SIZE=\"0\"
DISK_DEVICE=\"\"
";

/// The guest's `disk.cfg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskConfig(pub ShellVars);

impl Default for DiskConfig {
    fn default() -> Self {
        DiskConfig(ShellVars::parse(DEFAULT_DISK_CFG))
    }
}

fn part_key(number: u8) -> String {
    format!("DISK_PART{number}")
}

/// The variable that marks partition `number` as persistent data:
/// `DISK_PARTn_KEEP="1"`.
fn keep_key(number: u8) -> String {
    format!("DISK_PART{number}_KEEP")
}

/// The values a `DISK_PARTn_KEEP` takes: `1` kept, `0` not kept (as
/// absent).
const KEEP_VALUES: [&str; 2] = ["1", "0"];

impl DiskConfig {
    /// Parses file text.
    pub fn parse(text: &str) -> Self {
        DiskConfig(ShellVars::parse(text))
    }

    /// The disk size in MB (0: no disk).
    pub fn size_mb(&self) -> Result<u64> {
        let raw = self.0.get("DISK_SIZE").unwrap_or("0");
        validate::size_mb("DISK_SIZE", raw)
    }

    /// The configured partitions, in number order.
    pub fn partitions(&self) -> Result<Vec<Partition>> {
        (1..=4u8)
            .filter_map(|n| self.0.get(&part_key(n)).map(|v| Partition::from_disk_cfg(n, v)))
            .collect()
    }

    /// The partitions marked as persistent data (`DISK_PARTn_KEEP="1"`):
    /// on `xenguest-manager update` their content is carried over to the
    /// new disk instead of being written from the image. The classic
    /// manager ignores the marks.
    ///
    /// # Errors
    ///
    /// A `DISK_PARTn_KEEP` whose value is not `1` or `0`, or that names a
    /// partition `disk.cfg` does not define; the message names the key.
    pub fn kept(&self) -> Result<BTreeSet<u8>> {
        let mut out = BTreeSet::new();
        for (_, mark) in self.keep_marks() {
            if let Some(n) = mark? {
                out.insert(n);
            }
        }
        Ok(out)
    }

    /// Every `DISK_PARTn_KEEP` key that is wrong, with why: the rule
    /// [`DiskConfig::kept`] applies, for `check` to report each one.
    pub fn keep_problems(&self) -> Vec<(String, Error)> {
        self.keep_marks()
            .into_iter()
            .filter_map(|(key, mark)| mark.err().map(|e| (key, e)))
            .collect()
    }

    /// Each `DISK_PART*_KEEP` variable (its last value, as bash reads it):
    /// the partition number it keeps (`None`: `0`, not kept), or why it is
    /// wrong.
    fn keep_marks(&self) -> Vec<(String, Result<Option<u8>>)> {
        let mut last: std::collections::BTreeMap<&str, &str> = std::collections::BTreeMap::new();
        for (k, v) in self.0.vars() {
            if k.starts_with("DISK_PART") && k.ends_with("_KEEP") {
                last.insert(k, v);
            }
        }
        last.into_iter()
            .map(|(key, value)| {
                let number = (1..=4u8).find(|n| keep_key(*n) == key);
                let mark = match number {
                    _ if !KEEP_VALUES.contains(&value) => Err(Error::invalid(
                        key,
                        value,
                        "use 1 (the partition's content survives updates) or 0 (it does not; the same as no key)",
                    )),
                    Some(n) if self.0.get(&part_key(n)).is_some() => Ok((value == "1").then_some(n)),
                    Some(n) => Err(Error::invalid(
                        key,
                        value,
                        format!(
                            "there is no partition {n} (no {}) - define it with --disk-add-part or remove {key}",
                            part_key(n)
                        ),
                    )),
                    None => Err(Error::invalid(
                        key,
                        value,
                        "names no partition - partitions are DISK_PART1 to DISK_PART4, kept with DISK_PART1_KEEP to DISK_PART4_KEEP",
                    )),
                };
                (key.to_owned(), mark)
            })
            .collect()
    }

    /// Marks partition `number` as persistent data (`keep`) or not: sets
    /// `DISK_PARTn_KEEP="1"`, or removes it (absent means not kept). The
    /// partition must be defined.
    pub fn set_kept(&mut self, option: &str, number: u8, keep: bool) -> Result<()> {
        if !keep {
            self.0.remove(&keep_key(number));
            return Ok(());
        }
        if self.0.get(&part_key(number)).is_none() {
            return Err(Error::invalid(
                option,
                number.to_string(),
                format!("there is no partition {number} to keep - add it first with --disk-add-part"),
            ));
        }
        self.0.set(&keep_key(number), "1");
        Ok(())
    }

    /// Sets variable `name` (`DISK_SIZE`, stored in MB as `4000M`;
    /// `DISK_DEVICE`, empty for the host's default volume group).
    pub fn set(&mut self, option: &str, name: &str, value: &str) -> Result<()> {
        validate::shell_value(option, value)?;
        self.0.set(name, value);
        Ok(())
    }

    /// Adds or replaces a partition, checking that the partitions fit in the
    /// disk and that no two partitions share a content file.
    /// `size_name` names the disk size setting in the hint.
    pub fn add_partition(&mut self, option: &str, part: &Partition, size_name: &str) -> Result<()> {
        let others: Vec<Partition> = self
            .partitions()?
            .into_iter()
            .filter(|p| p.number != part.number)
            .collect();
        let used: u64 = others.iter().map(|p| p.size_mb).sum();
        let disk = self.size_mb()?;
        let free = disk.saturating_sub(used);
        if part.size_mb > free {
            // The value as the user wrote it: an option's `ID:SIZE:FS:CONTENT`,
            // or the TOML's `size`.
            let value = if option.starts_with("--") {
                format!("{}:{}", part.number, part.disk_cfg_value())
            } else {
                format!("size = \"{}\"", part.size)
            };
            return Err(Error::invalid(
                option,
                value,
                format!(
                    "partition needs {}M but the disk has only {free}M free (disk size {disk}M) - raise it with `{size_name}` first or shrink the partition",
                    part.size_mb
                ),
            ));
        }
        if !part.content.is_empty() {
            if let Some(other) = others.iter().find(|p| p.content == part.content) {
                return Err(Error::invalid(
                    option,
                    &part.content,
                    format!(
                        "partition {} already uses this content - each partition needs its own file",
                        other.number
                    ),
                ));
            }
        }
        self.0.set(&part_key(part.number), &part.disk_cfg_value());
        Ok(())
    }

    /// Removes partition `number` and its keep mark (absent: nothing to
    /// do).
    pub fn remove_partition(&mut self, number: u8) {
        self.0.remove(&part_key(number));
        self.0.remove(&keep_key(number));
    }

    /// The file text.
    pub fn render(&self) -> String {
        self.0.render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(def: &str) -> Partition {
        Partition::parse("o", def).unwrap()
    }

    #[test]
    fn partitions_must_fit_and_be_distinct() {
        let mut d = DiskConfig::default();
        assert_eq!(d.size_mb().unwrap(), 0);
        assert!(d.add_partition("o", &part("1:1G::"), "s").is_err());
        d.set("o", "DISK_SIZE", "4000M").unwrap();
        d.add_partition("o", &part("1:3G:ext4:rootfs.tar.gz"), "s").unwrap();
        assert!(d.add_partition("o", &part("2:2G::"), "s").is_err());
        assert!(d.add_partition("o", &part("2:500M:ext4:rootfs.tar.gz"), "s").is_err());
        d.add_partition("o", &part("2:1000M:swap:"), "s").unwrap();
        // Re-adding an ID replaces it, and its old size no longer counts.
        d.add_partition("o", &part("1:2G:ext3:rootfs.tar.gz"), "s").unwrap();
        assert_eq!(d.0.get("DISK_PART1"), Some("2G:ext3:rootfs.tar.gz"));
        assert_eq!(d.partitions().unwrap().len(), 2);
        d.remove_partition(1);
        assert_eq!(d.partitions().unwrap().len(), 1);
        assert_eq!(d.0.get("DISK_SIZE"), Some("4000M"));
    }

    #[test]
    fn kept_partitions_are_defined_and_marked_one_or_zero() {
        let mut d = DiskConfig::default();
        d.set("o", "DISK_SIZE", "4000M").unwrap();
        d.add_partition("o", &part("1:1G:ext4:"), "s").unwrap();
        d.add_partition("o", &part("3:1G:ext4:"), "s").unwrap();
        assert!(d.kept().unwrap().is_empty());
        let e = d.set_kept("--disk-keep-part", 2, true).unwrap_err().to_string();
        assert!(e.contains("--disk-keep-part") && e.contains("no partition 2"), "{e}");
        d.set_kept("o", 3, true).unwrap();
        assert!(d.render().contains("\nDISK_PART3_KEEP=\"1\"\n"));
        assert_eq!(d.kept().unwrap(), BTreeSet::from([3]));
        // Re-adding a partition leaves its mark; removing it removes both.
        d.add_partition("o", &part("3:500M:ext3:"), "s").unwrap();
        assert_eq!(d.kept().unwrap(), BTreeSet::from([3]));
        d.set_kept("o", 1, true).unwrap();
        d.set_kept("o", 1, false).unwrap();
        assert_eq!(d.0.get("DISK_PART1_KEEP"), None);
        d.remove_partition(3);
        assert_eq!(d.0.get("DISK_PART3_KEEP"), None);
        assert!(d.kept().unwrap().is_empty());

        // As written by hand (or another tool): each wrong key is named.
        let d = DiskConfig::parse("DISK_SIZE=\"4G\"\nDISK_PART1=\"1G:ext4:\"\nDISK_PART1_KEEP=\"0\"\n");
        assert!(d.kept().unwrap().is_empty());
        for (text, key, why) in [
            ("DISK_PART1_KEEP=\"yes\"\n", "DISK_PART1_KEEP", "use 1"),
            ("DISK_PART2_KEEP=\"1\"\n", "DISK_PART2_KEEP", "no partition 2"),
            ("DISK_PART5_KEEP=\"1\"\n", "DISK_PART5_KEEP", "names no partition"),
        ] {
            let d = DiskConfig::parse(&format!("DISK_SIZE=\"4G\"\nDISK_PART1=\"1G:ext4:\"\n{text}"));
            let e = d.kept().unwrap_err().to_string();
            assert!(e.contains(key) && e.contains(why), "{e}");
            let problems = d.keep_problems();
            assert_eq!(problems.len(), 1);
            assert_eq!(problems[0].0, key);
        }
    }
}
