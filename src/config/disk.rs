//! `disk.cfg`: the guest disk the host manager creates.

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

    /// The partitions whose content is kept data (`DISK_PARTn_KEEP="1"`).
    pub fn kept(&self) -> Result<std::collections::BTreeSet<u8>> {
        let mut out = std::collections::BTreeSet::new();
        for n in 1..=4u8 {
            let key = format!("DISK_PART{n}_KEEP");
            match self.0.get(&key) {
                None | Some("0") => {}
                Some("1") => {
                    out.insert(n);
                }
                Some(v) => return Err(crate::error::Error::invalid(&key, v, "use 1 or 0")),
            }
        }
        Ok(out)
    }

    /// The configured partitions, in number order.
    pub fn partitions(&self) -> Result<Vec<Partition>> {
        (1..=4u8)
            .filter_map(|n| self.0.get(&part_key(n)).map(|v| Partition::from_disk_cfg(n, v)))
            .collect()
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

    /// Removes partition `number` (absent: nothing to do).
    pub fn remove_partition(&mut self, number: u8) {
        self.0.remove(&part_key(number));
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
}
