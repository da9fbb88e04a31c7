//! Guest networking on the host, from each image's
//! `XENGUEST_NETWORK_TYPE` (`params.cfg`):
//!
//! - `bridge`: the guest's interface joins the host bridge
//!   (`XENGUEST_NETWORK_BRIDGE`, default `xenbr0`, made at boot by the
//!   xenguest-network recipe); the guest's address comes from the network
//!   behind that bridge.
//! - `nat`: the guest gets a private link of its own: a bridge `xgnatN`
//!   holding only its interface, with a /30 cut from `XENGUEST_NAT_SUBNET`
//!   (slot `N`, chosen when the guest is created and kept while it
//!   exists). When the guest starts, Dom0 takes the link's first address,
//!   a busybox `udhcpd` on the link serves the guest the second one,
//!   traffic from the guest is masqueraded to whatever interface leads
//!   out, and the image's `XENGUEST_PORT_FORWARDS` forward host ports to
//!   the guest. All of it is removed when the guest stops, is killed or
//!   removed, and before it starts again (what a crashed guest left).
//! - `none` (or unset): no interface.
//!
//! The manager writes the `vif` entry into `guest.cfg` when it creates the
//! guest, and records the type and slot in the guest's [`STATE_FILE`].
//! What it sets up at start is recorded under [`RUN_DIR`] first, so that
//! [`down`] removes exactly that, whatever failed half-way; `/run` is
//! emptied by a reboot, like the kernel's bridges and rules.
//!
//! Firewall rules live in tables (`ip xenguest_natN`, nftables) or chains
//! (`XENGUEST-N-PRE`, `-POST`, `-FWD`, iptables) of the manager's own: it
//! never flushes or deletes anything else. Every tool runs from an
//! argument vector ([`super::run`]); every value in them was checked here.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::config::{self, Config, Paths};
use super::run::{self, Runner};
use super::store::Store;
use crate::admit::Policy;
use crate::config::{read_xl_line, ShellVars, XlLine, XlValue};
use crate::error::{Error, IoContext, Result};
use crate::image::{Blob, Image};
use crate::validate;
use crate::xl_policy;

/// The guest's network record in its directory (`KEY="VALUE"` lines).
pub const STATE_FILE: &str = "network.state";

/// Where the manager records what it set up for running guests, one
/// directory per guest (under the root prefix).
pub const RUN_DIR: &str = "/run/xenguest/net";

/// The `params.cfg` variable choosing the guest's network.
pub const TYPE_PARAM: &str = "XENGUEST_NETWORK_TYPE";

/// The `params.cfg` variable holding the guest's port forwards.
pub const FORWARDS_PARAM: &str = validate::PORT_FORWARDS_PARAM;

/// The network a guest asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// On the host bridge.
    Bridge,
    /// On a private link behind Dom0's NAT.
    Nat,
    /// No interface.
    None,
}

impl Type {
    /// The type named by `XENGUEST_NETWORK_TYPE` (unset or empty: none).
    pub fn parse(value: Option<&str>) -> Result<Type> {
        match value.unwrap_or("") {
            "bridge" => Ok(Type::Bridge),
            "nat" => Ok(Type::Nat),
            "none" | "" => Ok(Type::None),
            other => Err(Error::invalid(TYPE_PARAM, other, "use bridge, nat or none")),
        }
    }

    fn word(self) -> &'static str {
        match self {
            Type::Bridge => "bridge",
            Type::Nat => "nat",
            Type::None => "none",
        }
    }
}

/// The firewall tool of the NAT rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firewall {
    /// nftables when `nft` works, else iptables.
    Auto,
    /// `nft`.
    Nftables,
    /// `iptables`.
    Iptables,
}

/// The host's network settings (the manager's configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The bridge of `bridge` guests.
    pub bridge: String,
    /// First address of the NAT range.
    pub subnet: Ipv4Addr,
    /// Prefix length of the NAT range.
    pub prefix: u8,
    /// The firewall tool.
    pub firewall: Firewall,
}

/// One NAT guest's private link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The slot (the link's index in the NAT range).
    pub slot: u32,
    /// The link's bridge on Dom0.
    pub bridge: String,
    /// Dom0's address on the link (the guest's router).
    pub host: Ipv4Addr,
    /// The guest's address.
    pub guest: Ipv4Addr,
    /// The guest interface's MAC address.
    pub mac: String,
}

/// Checks a network interface name (Linux: 1 to 15 bytes, no `/`, blank
/// or `:`); here letters, digits, `_ . -`, not starting with `-` or `.`.
pub fn check_interface(option: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && !name.starts_with(['-', '.'])
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            option,
            name.escape_debug().to_string(),
            "not a network interface name: 1 to 15 letters, digits, `_`, `.` or `-`, not starting with `-` or `.`",
        ))
    }
}

impl Host {
    /// The settings of `config`, checked.
    pub fn from_config(config: &Config) -> Result<Host> {
        let bridge = config.get(config::NETWORK_BRIDGE).to_owned();
        check_interface(config::NETWORK_BRIDGE, &bridge)?;
        let subnet_text = config.get(config::NAT_SUBNET);
        let bad = |why: &str| Error::invalid(config::NAT_SUBNET, subnet_text, why.to_owned());
        let (addr, prefix) = subnet_text
            .split_once('/')
            .ok_or_else(|| bad("use ADDRESS/PREFIX, e.g. 10.201.0.0/16"))?;
        let subnet: Ipv4Addr = addr.parse().map_err(|_| bad("not an IPv4 address before `/`"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| (8..=30).contains(p))
            .ok_or_else(|| bad("the prefix must be 8 to 30"))?;
        if u32::from(subnet) & !mask(prefix) != 0 {
            return Err(bad("host bits are set: give the range's first address"));
        }
        let firewall = match config.get(config::FIREWALL) {
            "auto" => Firewall::Auto,
            "nftables" => Firewall::Nftables,
            "iptables" => Firewall::Iptables,
            other => {
                return Err(Error::invalid(
                    config::FIREWALL,
                    other,
                    "use auto, nftables or iptables",
                ))
            }
        };
        Ok(Host {
            bridge,
            subnet,
            prefix,
            firewall,
        })
    }

    /// How many /30 links the NAT range holds.
    pub fn slots(&self) -> u32 {
        1u32 << (30 - u32::from(self.prefix))
    }

    /// The link of `slot`.
    pub fn link(&self, slot: u32) -> Result<Link> {
        if slot >= self.slots() || slot > 0xffff {
            return Err(Error::Refused(format!(
                "NAT link {slot} is outside {}={}/{} - widen the range, or remove and create the guest again",
                config::NAT_SUBNET,
                self.subnet,
                self.prefix
            )));
        }
        let base = u32::from(self.subnet) + slot * 4;
        Ok(Link {
            slot,
            bridge: format!("xgnat{slot}"),
            host: Ipv4Addr::from(base + 1),
            guest: Ipv4Addr::from(base + 2),
            mac: format!("00:16:3e:5a:{:02x}:{:02x}", slot >> 8, slot & 0xff),
        })
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

/// The network record of the guest in `dir` (`None`: none, e.g. a guest
/// made by the classic manager or before the manager wired networks).
fn record(dir: &Path) -> Result<Option<(Type, Option<u32>)>> {
    let path = dir.join(STATE_FILE);
    let Some(text) = super::store::read_optional(&path)? else {
        return Ok(None);
    };
    let vars = ShellVars::parse(&text);
    let kind = Type::parse(vars.get("NETWORK_TYPE"))?;
    let slot = match vars.get("NAT_SLOT") {
        Some(s) if !s.is_empty() => Some(
            s.parse()
                .map_err(|_| Error::Refused(format!("`{}`: NAT_SLOT `{s}` is not a number", path.display())))?,
        ),
        _ => None,
    };
    Ok(Some((kind, slot)))
}

/// The lowest NAT slot no guest of `store` holds.
fn free_slot(store: &Store, host: &Host) -> Result<u32> {
    let mut used = std::collections::BTreeSet::new();
    for name in store.list()? {
        if let Some((Type::Nat, Some(slot))) = record(&store.guest_dir(&name))? {
            used.insert(slot);
        }
    }
    (0..host.slots().min(0x1_0000))
        .find(|s| !used.contains(s))
        .ok_or_else(|| {
            Error::Refused(format!(
                "every NAT link of {}={}/{} is taken - widen the range",
                config::NAT_SUBNET,
                host.subnet,
                host.prefix
            ))
        })
}

/// At create: writes the guest's `vif` into `image`'s `guest.cfg` from its
/// `XENGUEST_NETWORK_TYPE` (the image's own entries follow when `policy`
/// allows [`xl_policy::PERMIT_VIF`]; its `vif` lines in `guest.d` become
/// comments, so that the one line xl reads is the manager's), and returns
/// the text of the guest's [`STATE_FILE`]. `current`: the guest directory
/// of the version an update replaces, whose NAT link (and so address) the
/// new version keeps.
pub fn configure(
    config: &Config,
    store: &Store,
    image: &mut Image,
    policy: &Policy,
    current: Option<&Path>,
) -> Result<String> {
    let host = Host::from_config(config)?;
    let kind = Type::parse(image.params.as_ref().and_then(|p| p.0.get(TYPE_PARAM)))?;
    let mut state = ShellVars::parse("# Written by xenguest-manager: this guest's network.\n");
    state.set("NETWORK_TYPE", kind.word());
    let managed = match kind {
        Type::Bridge => Some(format!("bridge={}", host.bridge)),
        Type::Nat => {
            let kept = match current {
                Some(dir) => match record(dir)? {
                    Some((Type::Nat, Some(slot))) if slot < host.slots() => Some(slot),
                    _ => None,
                },
                None => None,
            };
            let slot = match kept {
                Some(slot) => slot,
                None => free_slot(store, &host)?,
            };
            let link = host.link(slot)?;
            state.set("NAT_SLOT", &link.slot.to_string());
            Some(format!("mac={},bridge={}", link.mac, link.bridge))
        }
        Type::None => None,
    };
    let own = if policy.allow_xl_keys.contains(xl_policy::PERMIT_VIF) {
        xl_policy::image_vifs(image)
    } else {
        Vec::new()
    };
    for (name, blob) in &mut image.guest_d {
        let member = format!("guest.d/{name}");
        let text = blob.read_text(&member)?;
        let mut changed = false;
        let mut out = String::new();
        for line in text.split_terminator('\n') {
            if matches!(read_xl_line(line), Ok(XlLine::Assign { ref key, .. }) if key == "vif") {
                out.push_str("# (the host manager moved this vif into guest.cfg) ");
                changed = true;
            }
            out.push_str(line);
            out.push('\n');
        }
        if changed {
            *blob = Blob::bytes(out.into_bytes());
        }
    }
    let entries: Vec<String> = managed.into_iter().chain(own).collect();
    for entry in &entries {
        // A list element of its own: `,` separates its parameters.
        validate::xl_string("vif", entry)?;
        if entry.contains('\'') {
            return Err(Error::invalid(
                "vif",
                entry,
                "contains `'` - not allowed inside an xl list element",
            ));
        }
    }
    let cfg = image.guest_cfg.get_or_insert_with(Default::default);
    if entries.is_empty() {
        cfg.disable("vif");
    } else {
        cfg.set("vif", &XlValue::List(entries));
    }
    Ok(state.render())
}

/// What [`up`] set up for one guest, recorded before it is made.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Setup {
    firewall: Firewall,
    link: Link,
    forwards: Vec<validate::PortForward>,
}

impl Setup {
    fn render(&self) -> String {
        let mut vars = ShellVars::parse("# Written by xenguest-manager: what it set up for this running guest.\n");
        vars.set(
            "FIREWALL",
            if self.firewall == Firewall::Iptables {
                "iptables"
            } else {
                "nftables"
            },
        );
        vars.set("NAT_SLOT", &self.link.slot.to_string());
        vars.set("NAT_BRIDGE", &self.link.bridge);
        vars.set("NAT_GUEST", &self.link.guest.to_string());
        vars.set(
            FORWARDS_PARAM,
            &self
                .forwards
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        );
        vars.render()
    }

    fn parse(text: &str, path: &Path) -> Result<Setup> {
        let vars = ShellVars::parse(text);
        let bad = |what: &str| Error::Refused(format!("`{}`: {what} is missing or invalid", path.display()));
        let slot: u32 = vars
            .get("NAT_SLOT")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("NAT_SLOT"))?;
        let bridge = vars.get("NAT_BRIDGE").unwrap_or("").to_owned();
        check_interface("NAT_BRIDGE", &bridge)?;
        let guest: Ipv4Addr = vars
            .get("NAT_GUEST")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("NAT_GUEST"))?;
        let firewall = match vars.get("FIREWALL") {
            Some("iptables") => Firewall::Iptables,
            Some("nftables") => Firewall::Nftables,
            _ => return Err(bad("FIREWALL")),
        };
        let forwards = validate::port_forwards(FORWARDS_PARAM, vars.get(FORWARDS_PARAM).unwrap_or(""))?;
        Ok(Setup {
            firewall,
            link: Link {
                slot,
                bridge,
                host: Ipv4Addr::from(u32::from(guest).wrapping_sub(1)),
                guest,
                mac: String::new(),
            },
            forwards,
        })
    }
}

/// The directory recording what [`up`] set up for guest `name`.
fn run_dir(paths: &Paths, name: &str) -> PathBuf {
    paths.host(Path::new(RUN_DIR)).join(name)
}

/// At start, before `xl create`: removes what an earlier run of guest
/// `name` (directory `dir`) left, then, for a `nat` guest, sets up its
/// link, DHCP server, masquerading and port forwards. On failure what was
/// made is removed again.
pub fn up(runner: &Runner, paths: &Paths, config: &Config, name: &str, dir: &Path) -> Result<()> {
    down(runner, paths, name)?;
    let Some((Type::Nat, slot)) = record(dir)? else {
        return Ok(());
    };
    let host = Host::from_config(config)?;
    let slot = slot.ok_or_else(|| {
        Error::Refused(format!(
            "`{}` names no NAT_SLOT - remove and create the guest again",
            dir.join(STATE_FILE).display()
        ))
    })?;
    let link = host.link(slot)?;
    let params = fs::read_to_string(dir.join("params.cfg")).unwrap_or_default();
    let forwards = validate::port_forwards(
        FORWARDS_PARAM,
        ShellVars::parse(&params).get(FORWARDS_PARAM).unwrap_or(""),
    )?;
    check_ports_free(paths, name, &forwards)?;
    let firewall = match host.firewall {
        Firewall::Auto if runner.succeeds("nft", &["list", "tables"]).unwrap_or(false) => Firewall::Nftables,
        Firewall::Auto => Firewall::Iptables,
        f => f,
    };
    let setup = Setup {
        firewall,
        link,
        forwards,
    };
    let run = run_dir(paths, name);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&run)
        .with_path("cannot create directory", &run)?;
    let state = run.join("state");
    fs::write(&state, setup.render()).with_path("cannot write", &state)?;
    let made = make(runner, paths, &run, &setup);
    if let Err(e) = made {
        let _cleanup = crate::interrupt::cleanup();
        runner.log().error(&format!(
            "network of {name} failed, removing what was set up: {}",
            e.full_message()
        ));
        if let Err(d) = down(runner, paths, name) {
            runner.log().error(&format!("cleanup: {}", d.full_message()));
        }
        return Err(e);
    }
    runner.log().info(&format!(
        "network of {name}: {} on {}, Dom0 {}",
        setup.link.guest, setup.link.bridge, setup.link.host
    ));
    Ok(())
}

/// Refuses host ports another running NAT guest forwards already.
fn check_ports_free(paths: &Paths, name: &str, forwards: &[validate::PortForward]) -> Result<()> {
    let dir = paths.host(Path::new(RUN_DIR));
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let other = entry.file_name().to_string_lossy().into_owned();
        if other == name {
            continue;
        }
        let path = entry.path().join("state");
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let Ok(setup) = Setup::parse(&text, &path) else {
            continue;
        };
        for f in forwards {
            if setup.forwards.iter().any(|o| o.host == f.host && o.proto == f.proto) {
                return Err(Error::Refused(format!(
                    "host port {}/{} is forwarded to guest `{other}` already - change {FORWARDS_PARAM} of one of them",
                    f.host, f.proto
                )));
            }
        }
    }
    Ok(())
}

/// Sets up `setup` (recorded in `run`).
fn make(runner: &Runner, paths: &Paths, run: &Path, setup: &Setup) -> Result<()> {
    let link = &setup.link;
    let cidr = format!("{}/30", link.host);
    runner.run("ip", &["link", "add", "name", &link.bridge, "type", "bridge"])?;
    runner.run("ip", &["address", "add", &cidr, "dev", &link.bridge])?;
    runner.run("ip", &["link", "set", "dev", &link.bridge, "up"])?;
    runner.run("sysctl", &["-q", "-w", "net.ipv4.ip_forward=1"])?;
    if setup.firewall == Firewall::Iptables {
        for args in iptables_rules(setup) {
            runner.run("iptables", &args)?;
        }
    } else {
        let rules = run.join("nftables.rules");
        fs::write(&rules, nft_ruleset(setup)).with_path("cannot write", &rules)?;
        runner.run("nft", &[Path::new("-f"), &rules])?;
    }
    start_dhcp(runner, paths, run, link)
}

/// The nftables table of guest link `slot`.
fn nft_table(slot: u32) -> String {
    format!("xenguest_nat{slot}")
}

/// The iptables chain prefix of guest link `slot`.
fn ipt_chain(slot: u32, which: &str) -> String {
    format!("XENGUEST-{slot}-{which}")
}

/// The nftables ruleset of `setup`: one table of the manager's own,
/// created in one transaction.
fn nft_ruleset(setup: &Setup) -> String {
    let link = &setup.link;
    let mut pre = String::new();
    for f in &setup.forwards {
        let _ = writeln!(
            pre,
            "\t\tiifname != \"{}\" {} dport {} dnat to {}:{}",
            link.bridge, f.proto, f.host, link.guest, f.guest
        );
    }
    format!(
        "# Written by xenguest-manager; removed with `nft delete table ip {table}`.\n\
         table ip {table} {{\n\
         \tchain prerouting {{\n\
         \t\ttype nat hook prerouting priority -100; policy accept;\n\
         {pre}\t}}\n\
         \tchain postrouting {{\n\
         \t\ttype nat hook postrouting priority 100; policy accept;\n\
         \t\tip saddr {guest} oifname != \"{bridge}\" masquerade\n\
         \t}}\n\
         }}\n",
        table = nft_table(link.slot),
        guest = link.guest,
        bridge = link.bridge,
    )
}

/// The iptables commands of `setup`: chains of the manager's own, jumped
/// to from the built-in chains.
fn iptables_rules(setup: &Setup) -> Vec<Vec<String>> {
    let link = &setup.link;
    let (pre, post, fwd) = (
        ipt_chain(link.slot, "PRE"),
        ipt_chain(link.slot, "POST"),
        ipt_chain(link.slot, "FWD"),
    );
    let guest = link.guest.to_string();
    let v = |args: &[&str]| args.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
    let mut cmds = vec![
        v(&["-w", "-t", "nat", "-N", &pre]),
        v(&["-w", "-t", "nat", "-N", &post]),
        v(&["-w", "-t", "filter", "-N", &fwd]),
    ];
    for f in &setup.forwards {
        let (from, to, dport) = (f.host.to_string(), format!("{guest}:{}", f.guest), f.guest.to_string());
        cmds.push(v(&[
            "-w",
            "-t",
            "nat",
            "-A",
            &pre,
            "!",
            "-i",
            &link.bridge,
            "-p",
            f.proto,
            "--dport",
            &from,
            "-j",
            "DNAT",
            "--to-destination",
            &to,
        ]));
        cmds.push(v(&[
            "-w",
            "-t",
            "filter",
            "-A",
            &fwd,
            "-o",
            &link.bridge,
            "-d",
            &guest,
            "-p",
            f.proto,
            "--dport",
            &dport,
            "-j",
            "ACCEPT",
        ]));
    }
    cmds.push(v(&[
        "-w",
        "-t",
        "nat",
        "-A",
        &post,
        "-s",
        &guest,
        "!",
        "-o",
        &link.bridge,
        "-j",
        "MASQUERADE",
    ]));
    cmds.push(v(&[
        "-w",
        "-t",
        "filter",
        "-A",
        &fwd,
        "-i",
        &link.bridge,
        "-j",
        "ACCEPT",
    ]));
    cmds.push(v(&[
        "-w",
        "-t",
        "filter",
        "-A",
        &fwd,
        "-o",
        &link.bridge,
        "-m",
        "conntrack",
        "--ctstate",
        "ESTABLISHED,RELATED",
        "-j",
        "ACCEPT",
    ]));
    cmds.push(v(&["-w", "-t", "nat", "-I", "PREROUTING", "-j", &pre]));
    cmds.push(v(&["-w", "-t", "nat", "-I", "POSTROUTING", "-j", &post]));
    cmds.push(v(&["-w", "-t", "filter", "-I", "FORWARD", "-j", &fwd]));
    cmds
}

/// The nameservers of the host's `/etc/resolv.conf` that a guest can
/// reach (not loopback).
fn nameservers(paths: &Paths) -> Vec<Ipv4Addr> {
    let text = fs::read_to_string(paths.host(Path::new("/etc/resolv.conf"))).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().parse::<Ipv4Addr>().ok())
        .filter(|a| !a.is_loopback())
        .collect()
}

/// The busybox `udhcpd` configuration serving the link's one guest
/// address.
fn udhcpd_conf(paths: &Paths, run: &Path, link: &Link) -> String {
    let mut text = format!(
        "# Written by xenguest-manager: DHCP for one guest on its NAT link.\n\
         start {guest}\nend {guest}\nmax_leases 1\ninterface {bridge}\n\
         pidfile {pid}\nlease_file {leases}\n\
         option subnet 255.255.255.252\noption router {host}\noption lease 86400\n\
         static_lease {mac} {guest}\n",
        guest = link.guest,
        bridge = link.bridge,
        host = link.host,
        mac = link.mac,
        pid = run.join("udhcpd.pid").display(),
        leases = run.join("udhcpd.leases").display(),
    );
    let dns = nameservers(paths);
    if !dns.is_empty() {
        let list: Vec<String> = dns.iter().map(ToString::to_string).collect();
        let _ = writeln!(text, "option dns {}", list.join(" "));
    }
    text
}

/// Starts `udhcpd` in the foreground of a process of its own (it outlives
/// the manager) and waits until it has written its pid file.
fn start_dhcp(runner: &Runner, paths: &Paths, run: &Path, link: &Link) -> Result<()> {
    let conf = run.join("udhcpd.conf");
    fs::write(&conf, udhcpd_conf(paths, run, link)).with_path("cannot write", &conf)?;
    let leases = run.join("udhcpd.leases");
    fs::write(&leases, "").with_path("cannot write", &leases)?;
    let args = [Path::new("-f"), Path::new("-S"), &conf];
    let mut cmd = runner.command("udhcpd", &args);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = run::spawn(&mut cmd).map_err(|e| run::spawn_error("udhcpd", &e))?;
    let pid = run.join("udhcpd.pid");
    // udhcpd writes its pid file once it serves; it exits at once on a bad
    // configuration or interface. 10 s covers a slow, loaded Dom0.
    for _ in 0..200 {
        if pid.is_file() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            if pid.is_file() {
                return Ok(());
            }
            return Err(Error::Refused(format!(
                "udhcpd for {} exited ({status}) - see the system log",
                link.bridge
            )));
        }
        if crate::interrupt::stopping() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::Refused("interrupted by a signal".into()));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(Error::Refused(format!(
        "udhcpd for {} wrote no pid file `{}` within 10 s",
        link.bridge,
        pid.display()
    )))
}

/// Removes what [`up`] set up for guest `name` (nothing when nothing is
/// recorded). Idempotent: each step tolerates what is gone already; the
/// record stays when a step fails, so that the next call retries.
pub fn down(runner: &Runner, paths: &Paths, name: &str) -> Result<()> {
    let run = run_dir(paths, name);
    let state = run.join("state");
    let text = match fs::read_to_string(&state) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return remove_run_dir(&run);
        }
        Err(e) => return Err(Error::io("cannot read", &state, e)),
    };
    let setup = Setup::parse(&text, &state)?;
    let mut failed = Vec::new();
    stop_dhcp(runner, &run, &mut failed);
    let link = &setup.link;
    if setup.firewall == Firewall::Iptables {
        {
            let (pre, post, fwd) = (
                ipt_chain(link.slot, "PRE"),
                ipt_chain(link.slot, "POST"),
                ipt_chain(link.slot, "FWD"),
            );
            for (table, builtin, chain) in [
                ("nat", "PREROUTING", &pre),
                ("nat", "POSTROUTING", &post),
                ("filter", "FORWARD", &fwd),
            ] {
                if !runner.succeeds("iptables", &["-w", "-t", table, "-n", "-L", chain])? {
                    continue;
                }
                // Every jump to the chain (one unless someone added more).
                for _ in 0..16 {
                    if !runner.succeeds("iptables", &["-w", "-t", table, "-D", builtin, "-j", chain])? {
                        break;
                    }
                }
                for op in ["-F", "-X"] {
                    if !runner.succeeds("iptables", &["-w", "-t", table, op, chain])? {
                        failed.push(format!("iptables -t {table} {op} {chain}"));
                    }
                }
            }
        }
    } else {
        {
            // Deleted without asking first; a failure counts only when
            // the table is still there.
            let table = nft_table(link.slot);
            if !runner.succeeds("nft", &["delete", "table", "ip", &table])?
                && runner.succeeds("nft", &["list", "table", "ip", &table])?
            {
                failed.push(format!("nft delete table ip {table}"));
            }
        }
    }
    if !runner.succeeds("ip", &["link", "delete", "dev", &link.bridge])?
        && runner.succeeds("ip", &["link", "show", "dev", &link.bridge])?
    {
        failed.push(format!("ip link delete dev {}", link.bridge));
    }
    if !failed.is_empty() {
        return Err(Error::Refused(format!(
            "cannot remove the network of guest `{name}`: {} failed (recorded in `{}`; the next start, stop or remove retries)",
            failed.join(", "),
            state.display()
        )));
    }
    remove_run_dir(&run)?;
    runner.log().info(&format!("network of {name} removed"));
    Ok(())
}

/// [`down`] after a start failed with `e` (a failure to clean up is
/// logged); returns `e`.
pub fn undo(runner: &Runner, paths: &Paths, name: &str, e: Error) -> Error {
    let _cleanup = crate::interrupt::cleanup();
    if let Err(d) = down(runner, paths, name) {
        runner.log().error(&format!("cleanup: {}", d.full_message()));
    }
    e
}

fn remove_run_dir(run: &Path) -> Result<()> {
    match fs::remove_dir_all(run) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io("cannot remove", run, e)),
        _ => Ok(()),
    }
}

/// Stops the `udhcpd` of the pid file in `run`, if that process is still
/// the one serving this configuration.
fn stop_dhcp(runner: &Runner, run: &Path, failed: &mut Vec<String>) {
    let Ok(text) = fs::read_to_string(run.join("udhcpd.pid")) else {
        return;
    };
    let Some(pid) = text.trim().parse::<i32>().ok().and_then(rustix::process::Pid::from_raw) else {
        return;
    };
    let conf = run.join("udhcpd.conf");
    let cmdline = fs::read(format!("/proc/{}/cmdline", pid.as_raw_nonzero())).unwrap_or_default();
    let ours = cmdline
        .split(|b| *b == 0)
        .any(|arg| arg == conf.as_os_str().as_encoded_bytes());
    if !ours {
        return;
    }
    if let Err(e) = rustix::process::kill_process(pid, rustix::process::Signal::TERM) {
        runner
            .log()
            .error(&format!("cannot stop udhcpd (pid {}): {e}", pid.as_raw_nonzero()));
        failed.push(format!("kill {}", pid.as_raw_nonzero()));
    }
}

/// Removes the network of every guest recorded under [`RUN_DIR`] that is
/// not in `running` (what guests that crashed or were destroyed outside
/// the manager left). Errors are logged; the next call retries.
pub fn sweep(runner: &Runner, paths: &Paths, running: &[String]) {
    let Ok(entries) = fs::read_dir(paths.host(Path::new(RUN_DIR))) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !running.contains(&name) {
            if let Err(e) = down(runner, paths, &name) {
                runner.log().error(&e.full_message());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(text: &str) -> Result<Host> {
        Host::from_config(&Config::parse(text, Path::new("c"))?)
    }

    #[test]
    fn host_settings_are_checked() {
        let h = host("").unwrap();
        assert_eq!(h.bridge, "xenbr0");
        assert_eq!((h.subnet, h.prefix), (Ipv4Addr::new(10, 201, 0, 0), 16));
        assert_eq!(h.firewall, Firewall::Auto);
        assert_eq!(h.slots(), 16384);
        let link = h.link(258).unwrap();
        assert_eq!(link.bridge, "xgnat258");
        assert_eq!(link.host, Ipv4Addr::new(10, 201, 4, 9));
        assert_eq!(link.guest, Ipv4Addr::new(10, 201, 4, 10));
        assert_eq!(link.mac, "00:16:3e:5a:01:02");
        let small = host("XENGUEST_NAT_SUBNET=\"192.168.7.0/29\"\n").unwrap();
        assert_eq!(small.slots(), 2);
        assert!(small.link(2).is_err());
        for bad in [
            "XENGUEST_NAT_SUBNET=\"10.201.0.1/16\"\n",
            "XENGUEST_NAT_SUBNET=\"10.201.0.0\"\n",
            "XENGUEST_NAT_SUBNET=\"10.201.0.0/31\"\n",
            "XENGUEST_NAT_SUBNET=\"fd00::/64\"\n",
            "XENGUEST_NETWORK_BRIDGE=\"br0,script=/tmp/x\"\n",
            "XENGUEST_NETWORK_BRIDGE=\"a-very-long-bridge\"\n",
            "XENGUEST_FIREWALL=\"ufw\"\n",
        ] {
            let e = host(bad).unwrap_err().to_string();
            assert!(e.contains("XENGUEST_"), "{bad}: {e}");
        }
    }

    #[test]
    fn types() {
        assert_eq!(Type::parse(Some("nat")).unwrap(), Type::Nat);
        assert_eq!(Type::parse(None).unwrap(), Type::None);
        assert!(Type::parse(Some("brdge")).is_err());
    }

    fn setup(firewall: Firewall) -> Setup {
        Setup {
            firewall,
            link: host("").unwrap().link(1).unwrap(),
            forwards: validate::port_forwards("f", "2222:22 5353:53/udp").unwrap(),
        }
    }

    #[test]
    fn the_record_of_a_setup_reads_back() {
        let s = setup(Firewall::Iptables);
        let back = Setup::parse(&s.render(), Path::new("state")).unwrap();
        assert_eq!(back.firewall, s.firewall);
        assert_eq!(back.forwards, s.forwards);
        assert_eq!((back.link.slot, &back.link.bridge), (1, &s.link.bridge));
        assert_eq!((back.link.host, back.link.guest), (s.link.host, s.link.guest));
    }

    #[test]
    fn nftables_rules_forward_and_masquerade_in_the_manager_s_table() {
        let text = nft_ruleset(&setup(Firewall::Nftables));
        assert!(text.contains("table ip xenguest_nat1 {"), "{text}");
        assert!(
            text.contains("iifname != \"xgnat1\" tcp dport 2222 dnat to 10.201.0.6:22"),
            "{text}"
        );
        assert!(
            text.contains("iifname != \"xgnat1\" udp dport 5353 dnat to 10.201.0.6:53"),
            "{text}"
        );
        assert!(
            text.contains("ip saddr 10.201.0.6 oifname != \"xgnat1\" masquerade"),
            "{text}"
        );
        assert!(!text.contains("flush"), "{text}");
    }

    #[test]
    fn iptables_rules_stay_in_the_manager_s_chains() {
        let cmds = iptables_rules(&setup(Firewall::Iptables));
        for c in &cmds {
            let chain = c
                .iter()
                .position(|a| a == "-A" || a == "-I" || a == "-N")
                .map(|i| &c[i + 1]);
            let op = c
                .iter()
                .find(|a| a.starts_with('-') && a.len() == 2 && *a != "-w" && *a != "-t");
            match op.map(String::as_str) {
                Some("-I") => assert!(c.last().unwrap().starts_with("XENGUEST-1-"), "{c:?}"),
                Some("-A" | "-N") => assert!(chain.unwrap().starts_with("XENGUEST-1-"), "{c:?}"),
                other => panic!("unexpected {other:?} in {c:?}"),
            }
        }
        assert!(cmds.iter().any(|c| c
            .join(" ")
            .contains("--dport 2222 -j DNAT --to-destination 10.201.0.6:22")));
    }
}
