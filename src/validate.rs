//! Parsers and checks for every user-supplied value.
//!
//! `params.cfg` and `disk.cfg` are sourced by bash as root on the Xen host,
//! and the xl configuration is parsed by xl, so every value that ends up in
//! one of them goes through a function here first. Names of files inside the
//! image go through [`member_name`] so nothing can be written outside it.

use crate::error::{Error, Result};

/// Megabytes per gigabyte, as the classic tool and the host manager count.
pub const MB_PER_GB: u64 = 1000;

/// Parses a disk or partition size: `N` or `NG` (gigabytes) or `NM`
/// (megabytes). Returns megabytes.
pub fn size_mb(option: &str, text: &str) -> Result<u64> {
    let bad = |reason: &str| Error::invalid(option, text, format!("{reason} - use e.g. `4G`, `4` (GB) or `500M`"));
    let (digits, factor) = match text.as_bytes().last() {
        None => return Err(bad("the size is empty")),
        Some(b'G') => (&text[..text.len() - 1], MB_PER_GB),
        Some(b'M') => (&text[..text.len() - 1], 1),
        Some(_) => (text, MB_PER_GB),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("not a size"));
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .filter(|mb| *mb <= u64::MAX / (1024 * 1024))
        .ok_or_else(|| bad("the size is too large"))
}

/// Parses a non-negative decimal integer for an xl number setting.
pub fn number(option: &str, text: &str, min: u64, max: u64) -> Result<u64> {
    let n: u64 = text
        .parse()
        .ok()
        .filter(|_| text.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| Error::invalid(option, text, "not a whole number"))?;
    if n < min || n > max {
        return Err(Error::invalid(option, text, format!("must be between {min} and {max}")));
    }
    Ok(n)
}

/// Checks a value that will be written as `KEY="VALUE"` into a file the host
/// sources with bash. Inside double quotes bash still interprets `"`, `\`,
/// `$` and backticks; control characters (newline above all) would end the
/// line. With those refused, no value can run code or change another key.
pub fn shell_value<'a>(option: &str, value: &'a str) -> Result<&'a str> {
    if let Some(c) = value
        .chars()
        .find(|c| matches!(c, '"' | '\\' | '$' | '`') || c.is_control())
    {
        return Err(Error::invalid(
            option,
            value.escape_debug().to_string(),
            format!(
                "contains {} - the file is sourced by bash on the host, so `\"`, `\\`, `$`, backticks and control characters are not allowed",
                describe_char(c)
            ),
        ));
    }
    Ok(value)
}

/// Names a parameter may not have. The host manager sources `params.cfg`
/// as root and then runs commands and init scripts from the same shell, so
/// a parameter with one of these names would choose what runs (`PATH`,
/// `LD_PRELOAD`, `BASH_ENV`), how commands are split (`IFS`), or where the
/// manager works (its own `guestname`, `guestdir`, `guestcfgfile`).
const RESERVED_NAMES: &[&str] = &[
    "PATH",
    "IFS",
    "CDPATH",
    "GLOBIGNORE",
    "ENV",
    "SHELLOPTS",
    "BASHOPTS",
    "PS4",
    "PROMPT_COMMAND",
    "HOME",
    "SHELL",
    "TMPDIR",
    "GCONV_PATH",
    "guestname",
    "guestdir",
    "guestcfgfile",
    // The functions the manager gives init scripts.
    "log",
    "log_command",
    "POSIXLY_CORRECT",
    // The classic guest manager sources params.cfg and disk.cfg in its own
    // shell, not a subshell: its configuration and log variables too.
    "XENGUEST_CONF_BASE",
    "XENGUEST_VOLUME_DEVICE",
    "XENGUEST_VOLUME_NAME",
    "XENGUEST_LOG_LEVEL",
    "LOGFILE",
    "LOG_LEVEL",
    "LOG_LEVEL_LIST",
    "LOG_LEVEL_VALID",
    "VERBOSE_LOG_LEVEL",
];

/// Prefixes of reserved names: the dynamic linker's, bash's own and the
/// manager's internal variables (`__xenguest_script`, …).
const RESERVED_PREFIXES: &[&str] = &["LD_", "BASH_", "__xenguest"];

/// Checks a shell variable name (`[A-Za-z_][A-Za-z0-9_]*`) that is not one
/// of the [`RESERVED_NAMES`].
pub fn shell_name<'a>(option: &str, name: &'a str) -> Result<&'a str> {
    let mut bytes = name.bytes();
    let ok = matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok && (RESERVED_NAMES.contains(&name) || RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))) {
        Err(Error::invalid(
            option,
            name,
            "reserved - the host sources params.cfg as root, so this name would change what the host runs; use another name",
        ))
    } else if ok {
        Ok(name)
    } else {
        Err(Error::invalid(
            option,
            name.escape_debug().to_string(),
            "not a parameter name - use letters, digits and `_`, not starting with a digit",
        ))
    }
}

/// Checks a string that will be written inside double quotes in the xl
/// configuration: a `"` or a newline would end it, and xl reads `\` as the
/// start of an escape (`\n`, `\x41`, `\"`; see libxlu's
/// `xlu__cfgl_dequote`), so a value holding one would not reach the guest
/// as written, and a trailing one would leave the string unterminated.
pub fn xl_string<'a>(option: &str, value: &'a str) -> Result<&'a str> {
    if let Some(c) = value.chars().find(|c| matches!(c, '"' | '\\') || c.is_control()) {
        return Err(Error::invalid(
            option,
            value.escape_debug().to_string(),
            format!(
                "contains {} - xl strings cannot hold `\"`, `\\` (xl's escape character) or control characters",
                describe_char(c)
            ),
        ));
    }
    Ok(value)
}

/// Checks an element of an xl list written as `['a,b,c']`: on top of the
/// [`xl_string`] rules, `'` would end the element and `,` splits it.
pub fn xl_list_item<'a>(option: &str, value: &'a str) -> Result<&'a str> {
    xl_string(option, value)?;
    if let Some(c) = value.chars().find(|c| matches!(c, '\'' | ',' | '[' | ']')) {
        return Err(Error::invalid(
            option,
            value,
            format!("contains {} - not allowed inside an xl list element", describe_char(c)),
        ));
    }
    Ok(value)
}

/// Checks the name of a file inside one of the image's directories
/// (`files/`, `disk/`, `guest.d/`, `init.*/`): relative, non-empty, no `.`
/// or `..` component, no empty component, no control characters. Returns
/// it unchanged.
pub fn member_name<'a>(option: &str, name: &'a str) -> Result<&'a str> {
    let refuse = |reason: &str| Err(Error::invalid(option, name.escape_debug().to_string(), reason));
    if name.is_empty() {
        return refuse("the name is empty");
    }
    if name.starts_with('/') {
        return refuse("absolute names would leave the image - give a relative name");
    }
    if name.chars().any(|c| c.is_control() || c == '\\') {
        return refuse("control characters and `\\` are not allowed in names");
    }
    for part in name.split('/') {
        match part {
            ".." => return refuse("`..` would leave the image"),
            "." | "" => return refuse("empty or `.` path components are not allowed"),
            p if p.len() > 255 => return refuse("a path component is longer than 255 bytes"),
            _ => {}
        }
    }
    if name.len() > 4096 {
        return refuse("the name is longer than 4096 bytes");
    }
    Ok(name)
}

/// Checks a single file name (no `/` at all), e.g. an init script name.
pub fn file_name<'a>(option: &str, name: &'a str) -> Result<&'a str> {
    member_name(option, name)?;
    if name.contains('/') {
        return Err(Error::invalid(option, name, "must be a plain file name without `/`"));
    }
    Ok(name)
}

fn describe_char(c: char) -> String {
    if c.is_control() {
        format!("the control character {c:?}")
    } else {
        format!("`{c}`")
    }
}

/// The `params.cfg` variables the host's guest manager reads, with the
/// values it understands (its documentation: `GUEST_AUTOBOOT` 1/0,
/// `XENGUEST_NETWORK_TYPE` bridge, nat or none).
pub const KNOWN_PARAMS: &[(&str, &[&str])] = &[
    ("GUEST_AUTOBOOT", &["1", "0"]),
    ("XENGUEST_NETWORK_TYPE", &["bridge", "nat", "none"]),
];

/// The `params.cfg` variable of the seconds `xenguest-manager update`
/// waits for the new guest to be healthy before it rolls back.
pub const HEALTH_TIMEOUT_PARAM: &str = "GUEST_HEALTH_TIMEOUT";

/// The longest health timeout, in seconds (a day).
pub const MAX_HEALTH_TIMEOUT: u64 = 86_400;

/// Parses a `GUEST_HEALTH_TIMEOUT` value: whole seconds, 1 to
/// [`MAX_HEALTH_TIMEOUT`]. `option` names the source in messages.
pub fn health_timeout(option: &str, value: &str) -> Result<u64> {
    number(option, value, 1, MAX_HEALTH_TIMEOUT).map_err(|_| {
        Error::invalid(
            option,
            format!("{HEALTH_TIMEOUT_PARAM}={value}"),
            format!("use a whole number of seconds from 1 to {MAX_HEALTH_TIMEOUT}"),
        )
    })
}

/// The `params.cfg` variable of a `nat` guest's port forwards.
pub const PORT_FORWARDS_PARAM: &str = "XENGUEST_PORT_FORWARDS";

/// One port forward: connections to `host` on Dom0 reach `guest` in the
/// guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortForward {
    /// The port on Dom0.
    pub host: u16,
    /// The port in the guest.
    pub guest: u16,
    /// `tcp` or `udp`.
    pub proto: &'static str,
}

impl std::fmt::Display for PortForward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.guest)?;
        if self.proto != "tcp" {
            write!(f, "/{}", self.proto)?;
        }
        Ok(())
    }
}

/// Parses port forwards: space-separated `HOST:GUEST` or
/// `HOST:GUEST/udp` (`/tcp` is the default), ports 1 to 65535, each host
/// port and protocol once.
pub fn port_forwards(option: &str, text: &str) -> Result<Vec<PortForward>> {
    let mut out: Vec<PortForward> = Vec::new();
    for word in text.split_whitespace() {
        let bad = |why: &str| Error::invalid(option, word, why.to_owned());
        let (ports, proto) = match word.split_once('/') {
            None => (word, "tcp"),
            Some((p, "tcp")) => (p, "tcp"),
            Some((p, "udp")) => (p, "udp"),
            Some(_) => return Err(bad("the protocol after `/` must be tcp or udp")),
        };
        let port = |p: &str| p.parse::<u16>().ok().filter(|n| *n > 0);
        let (host, guest) = ports
            .split_once(':')
            .and_then(|(h, g)| Some((port(h)?, port(g)?)))
            .ok_or_else(|| bad("use HOST:GUEST or HOST:GUEST/udp, ports 1 to 65535, e.g. 2222:22"))?;
        if out.iter().any(|f| f.host == host && f.proto == proto) {
            return Err(bad("this host port is forwarded twice"));
        }
        out.push(PortForward { host, guest, proto });
    }
    Ok(out)
}

/// Checks the value of a known `params.cfg` variable. Every writer (through
/// [`crate::config::Params::set`]) and `check` use this one rule.
pub fn param_value(option: &str, name: &str, value: &str) -> Result<()> {
    if name == PORT_FORWARDS_PARAM {
        return port_forwards(option, value).map(|_| ());
    }
    if name == HEALTH_TIMEOUT_PARAM {
        return health_timeout(option, value).map(|_| ());
    }
    match KNOWN_PARAMS.iter().find(|(n, _)| *n == name) {
        Some((_, allowed)) if !allowed.contains(&value) => Err(Error::invalid(
            option,
            format!("{name}={value}"),
            format!("the host manager understands only {}", allowed.join(", ")),
        )),
        _ => Ok(()),
    }
}

/// The file systems the host manager can create on a partition.
pub const FILESYSTEMS: &[&str] = &["vfat", "ext2", "ext3", "ext4", "swap"];

/// The partition content suffixes the host manager can write to a partition
/// (`*.img*` are written with dd, `*.tar*` are extracted).
pub const CONTENT_SUFFIXES: &[&str] = &[".img", ".img.gz", ".img.bz2", ".tar", ".tar.gz", ".tar.bz2", ".tar.xz"];

/// One `DISK_PARTn` definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// Primary partition number, 1 to 4.
    pub number: u8,
    /// Size as the user wrote it (stored verbatim, like the classic tool).
    pub size: String,
    /// Size in MB.
    pub size_mb: u64,
    /// File system, empty to leave the partition unformatted.
    pub fs: String,
    /// Name of a file under `disk/` holding the initial content, or empty.
    pub content: String,
}

impl Partition {
    /// Builds and checks a partition from its parts.
    pub fn new(option: &str, id: &str, size: &str, fs: &str, content: &str) -> Result<Self> {
        let number = u8::try_from(number(option, id, 1, 4)?).unwrap_or(0);
        let size_mb = size_mb(option, size)?;
        if size_mb == 0 {
            return Err(Error::invalid(option, size, "a partition needs a size above 0"));
        }
        if !fs.is_empty() && !FILESYSTEMS.contains(&fs) {
            return Err(Error::invalid(
                option,
                fs,
                format!(
                    "unsupported file system - use one of {} or leave it empty",
                    FILESYSTEMS.join(", ")
                ),
            ));
        }
        if !content.is_empty() {
            member_name(option, content)?;
            shell_value(option, content)?;
            if content.contains(':') {
                return Err(Error::invalid(option, content, "content names cannot contain `:`"));
            }
            if !CONTENT_SUFFIXES.iter().any(|s| content.ends_with(s)) {
                return Err(Error::invalid(
                    option,
                    content,
                    format!(
                        "unsupported content type - the name must end in one of {}",
                        CONTENT_SUFFIXES.join(", ")
                    ),
                ));
            }
        }
        Ok(Partition {
            number,
            size: size.to_owned(),
            size_mb,
            fs: fs.to_owned(),
            content: content.to_owned(),
        })
    }

    /// Parses `ID:SIZE[:FS[:CONTENT]]` as given to `--disk-add-part`.
    pub fn parse(option: &str, def: &str) -> Result<Self> {
        let fields: Vec<&str> = def.split(':').collect();
        if fields.len() < 2 || fields.len() > 4 {
            return Err(Error::invalid(
                option,
                def,
                "expected `ID:SIZE:FS:CONTENT`, e.g. `1:3G:ext4:rootfs.tar.gz`",
            ));
        }
        let get = |i: usize| fields.get(i).copied().unwrap_or("");
        Self::new(option, get(0), get(1), get(2), get(3))
    }

    /// Parses the value of a `DISK_PARTn` line (`SIZE:FS:CONTENT`).
    pub fn from_disk_cfg(number: u8, value: &str) -> Result<Self> {
        let option = format!("DISK_PART{number}");
        let mut fields = value.splitn(3, ':');
        let size = fields.next().unwrap_or("");
        let fs = fields.next().unwrap_or("");
        let content = fields.next().unwrap_or("");
        Self::new(&option, &number.to_string(), size, fs, content)
    }

    /// The `DISK_PARTn` value: `SIZE:FS:CONTENT`.
    pub fn disk_cfg_value(&self) -> String {
        format!("{}:{}:{}", self.size, self.fs, self.content)
    }
}

/// Members the host reads as text: the files bash sources (`params.cfg`,
/// `disk.cfg`), the xl configuration (`guest.cfg`, `guest.d/*`) and the
/// init and health scripts it runs.
pub fn is_text_member(path: &str) -> bool {
    matches!(path, "params.cfg" | "disk.cfg" | "guest.cfg")
        || ["guest.d/", "init.pre/", "init.d/", "init.post/", "health.d/"]
            .iter()
            .any(|dir| {
                path.strip_prefix(dir)
                    .is_some_and(|name| !name.is_empty() && !name.contains('/'))
            })
}

/// Checks that `bytes` are UTF-8 text: the one rule for every text member
/// (see [`text_member`]) and every configuration file the reader parses.
/// Names the member, the byte offset and the line of the first bad byte.
pub fn utf8<'a>(member: &str, bytes: &'a [u8]) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        Error::Refused(format!(
            "`{member}` is not UTF-8 text: byte {at} (line {}) is {:#04x} - save it as UTF-8",
            line_of(bytes, at),
            bytes[at]
        ))
    })
}

/// Checks a text member (see [`is_text_member`]): UTF-8 (see [`utf8`]),
/// and no carriage return, which bash and xl on the host would read as
/// part of the line (a CRLF script fails with `$'\r': command not found`).
pub fn text_member(member: &str, bytes: &[u8]) -> Result<()> {
    utf8(member, bytes)?;
    if let Some(at) = bytes.iter().position(|&b| b == b'\r') {
        return Err(Error::Refused(format!(
            "`{member}` contains a carriage return at byte {at} (line {}) - the host reads it with bash or xl, which keep it as part of the line; convert the file to LF line endings (e.g. `dos2unix`)",
            line_of(bytes, at)
        )));
    }
    Ok(())
}

/// The 1-based line of byte `at`.
fn line_of(bytes: &[u8], at: usize) -> usize {
    bytes[..at].split(|&b| b == b'\n').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_forwards_are_host_colon_guest() {
        let f = port_forwards("o", " 2222:22  5353:53/udp 8080:80/tcp ").unwrap();
        let shown: Vec<String> = f.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["2222:22", "5353:53/udp", "8080:80"]);
        assert_eq!(f[1].proto, "udp");
        assert!(port_forwards("o", "").unwrap().is_empty());
        for bad in [
            "22",
            "0:22",
            "2222:70000",
            "2222:22/sctp",
            "a:b",
            "2222:22 2222:23",
            "2222:22;reboot",
        ] {
            let e = port_forwards("XENGUEST_PORT_FORWARDS", bad).unwrap_err().to_string();
            assert!(e.contains("XENGUEST_PORT_FORWARDS"), "{bad}: {e}");
        }
        // Both protocols may use one host port.
        assert_eq!(port_forwards("o", "53:53 53:53/udp").unwrap().len(), 2);
        assert!(param_value("o", PORT_FORWARDS_PARAM, "2222:x").is_err());
        assert!(param_value("o", PORT_FORWARDS_PARAM, "2222:22").is_ok());
        for bad in ["0", "86401", "-1", "1m", "", " 5"] {
            let e = param_value("--set-param", HEALTH_TIMEOUT_PARAM, bad)
                .unwrap_err()
                .to_string();
            assert!(e.contains("GUEST_HEALTH_TIMEOUT") && e.contains("86400"), "{e}");
        }
        assert!(param_value("o", HEALTH_TIMEOUT_PARAM, "86400").is_ok());
    }

    #[test]
    fn text_members_are_utf8_without_cr() {
        assert!(is_text_member("params.cfg") && is_text_member("guest.d/net") && is_text_member("init.pre/01"));
        assert!(is_text_member("health.d/10-ping") && !is_text_member("health.d/sub/x"));
        assert!(!is_text_member("files/kernel") && !is_text_member("disk/rootfs.tar") && !is_text_member("guest.d/"));
        assert!(text_member("guest.d/a", b"x = 1\n").is_ok());
        let e = text_member("guest.d/a", b"x = 1\ny = \xff\n").unwrap_err().to_string();
        assert!(
            e.contains("`guest.d/a`") && e.contains("byte 10") && e.contains("line 2"),
            "{e}"
        );
        let e = text_member("init.d/s", b"#!/bin/sh\r\ntrue\r\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`init.d/s`") && e.contains("byte 9") && e.contains("line 1"),
            "{e}"
        );
        assert!(e.contains("carriage return"), "{e}");
    }

    #[test]
    fn sizes_follow_the_classic_units() {
        assert_eq!(size_mb("o", "4").unwrap(), 4000);
        assert_eq!(size_mb("o", "4G").unwrap(), 4000);
        assert_eq!(size_mb("o", "500M").unwrap(), 500);
        assert_eq!(size_mb("o", "0").unwrap(), 0);
        for bad in ["", "G", "M", "4K", "-1", "1.5G", "4GB", " 4", "99999999999999999999"] {
            assert!(size_mb("o", bad).is_err(), "{bad} accepted");
        }
        let msg = size_mb("--disk-size", "abc").unwrap_err().to_string();
        assert!(msg.contains("`--disk-size`") && msg.contains("`abc`"), "{msg}");
    }

    #[test]
    fn numbers_refuse_signs_and_ranges() {
        assert_eq!(number("o", "512", 1, 1 << 20).unwrap(), 512);
        for bad in ["", "-1", "+1", "1e3", "0x10", "two", "0"] {
            assert!(number("o", bad, 1, 1 << 20).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn shell_values_cannot_break_out() {
        assert!(shell_value("o", "bridge").is_ok());
        assert!(shell_value("o", "/dev/vg0 with space").is_ok());
        for bad in ["a\"b", "$(reboot)", "`id`", "a\\", "a\nb", "a\rb", "\0"] {
            assert!(shell_value("o", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(shell_name("o", "GUEST_AUTOBOOT").is_ok());
        assert!(shell_name("o", "_x1").is_ok());
        for bad in [
            "",
            "1A",
            "A-B",
            "A B",
            "A=B",
            "A;B",
            "PATH",
            "IFS",
            "LD_PRELOAD",
            "BASH_ENV",
            "guestdir",
            "LOGFILE",
            "XENGUEST_CONF_BASE",
            "__xenguest_script",
            "log",
            "log_command",
        ] {
            assert!(shell_name("o", bad).is_err(), "{bad:?} accepted");
        }
        assert!(shell_name("o", "MY_PATH").is_ok());
        assert!(shell_name("o", "XENGUEST_NETWORK_TYPE").is_ok());
    }

    #[test]
    fn member_names_stay_inside() {
        for good in ["kernel", "net/kea.json", "a..b", ".hidden"] {
            assert!(member_name("o", good).is_ok(), "{good} refused");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a/",
            "a\nb",
            "a\\b",
        ] {
            assert!(member_name("o", bad).is_err(), "{bad:?} accepted");
        }
        assert!(file_name("o", "a/b").is_err());
    }

    #[test]
    fn partitions_parse_and_check() {
        let p = Partition::parse("o", "1:3G:ext4:rootfs.tar.gz").unwrap();
        assert_eq!(
            (p.number, p.size_mb, p.fs.as_str(), p.content.as_str()),
            (1, 3000, "ext4", "rootfs.tar.gz")
        );
        assert_eq!(p.disk_cfg_value(), "3G:ext4:rootfs.tar.gz");
        let p = Partition::parse("o", "4:100M").unwrap();
        assert_eq!(p.disk_cfg_value(), "100M::");
        for bad in [
            "5:1G::",
            "0:1G::",
            "9:1G::",
            "1:abc::",
            "1:0::",
            "1:1G:ntfs:",
            "1:1G:ext4:rootfs.zip",
            "1:1G:ext4:../x.tar",
            "1",
            "1:1G:ext4:a.tar:extra",
            "x:1G::",
        ] {
            assert!(Partition::parse("o", bad).is_err(), "{bad} accepted");
        }
        assert_eq!(Partition::from_disk_cfg(2, "2G::").unwrap().size_mb, 2000);
    }
}
