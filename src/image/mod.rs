//! The typed model of a xenguest image and its reader and writer.
//!
//! [`Image`] is what every operation acts on, whatever the image was read
//! from (a directory, a tar file, a gzip-compressed tar file, or nothing for
//! `create`) and whatever it is written to.

mod blob;
pub mod meta;
pub mod reader;
pub mod tar;
pub mod writer;

use std::collections::BTreeMap;

pub use blob::{Archive, Blob, MAX_TEXT_MEMBER};

use crate::config::{DiskConfig, Params, XlConfig, DEFAULT_GUEST_CFG};
use crate::error::Result;

/// Name of the embedded manifest member: `sha256sum -c` format, one line
/// per other member. The host manager ignores members it does not know.
pub const MANIFEST: &str = "manifest.sha256";

/// Name of the signature member: a detached signature of the manifest's
/// bytes (see [`crate::signature`]), after the manifest.
pub const SIGNATURE: &str = "manifest.sha256.sig";

/// Name of the signer member: the public key (SPKI PEM) the signature
/// claims to be made with, after the manifest. Informational: trust comes
/// from the verifier's own keys.
pub const SIGNER: &str = "manifest.sha256.pub";

/// The members that follow the manifest and that it does not list, in
/// archive order: the manifest itself, then the signature members.
pub const TRAILER: [&str; 3] = [MANIFEST, SIGNER, SIGNATURE];

/// The directory of the SBOM documents (`sbom/NAME`), kept among
/// [`Image::others`].
pub const SBOM_DIR: &str = "sbom/";

/// The host-side script stages: the three init stages, and the health
/// checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `init.pre/`: before the guest is created.
    Pre,
    /// `init.d/`: created, still paused.
    Main,
    /// `init.post/`: running.
    Post,
    /// `health.d/`: not run at start; after `xenguest-manager update`, run
    /// until they all succeed (the new guest is healthy) or the guest's
    /// `GUEST_HEALTH_TIMEOUT` passes (it is rolled back).
    Health,
}

impl Stage {
    /// The init stages, in the order the host runs them when it starts a
    /// guest (pre, main, post; not the health checks).
    pub const ALL: [Stage; 3] = [Stage::Pre, Stage::Main, Stage::Post];

    /// Every script directory of an image, in the order `dump-init` and
    /// `info` show them: the init stages ([`Stage::ALL`]), then
    /// `health.d/`. Each holds executable scripts the host runs as root,
    /// judged alike.
    pub const SCRIPTS: [Stage; 4] = [Stage::Pre, Stage::Main, Stage::Post, Stage::Health];

    /// The directory in the image.
    pub fn dir(self) -> &'static str {
        match self {
            Stage::Pre => "init.pre",
            Stage::Main => "init.d",
            Stage::Post => "init.post",
            Stage::Health => "health.d",
        }
    }

    /// The stage whose directory is `dir` (`init.d`, `health.d`, …).
    pub fn from_dir(dir: &str) -> Option<Stage> {
        Stage::SCRIPTS.into_iter().find(|s| s.dir() == dir)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A xenguest image.
#[derive(Debug, Clone, Default)]
pub struct Image {
    /// `params.cfg` (absent only in partial images).
    pub params: Option<Params>,
    /// `guest.cfg` (absent only in partial images).
    pub guest_cfg: Option<XlConfig>,
    /// `guest.d/NAME`, appended to `guest.cfg` by the host.
    pub guest_d: BTreeMap<String, Blob>,
    /// `disk.cfg` (absent only in partial images).
    pub disk: Option<DiskConfig>,
    /// `files/NAME`: kernel, device tree, ramdisk and other files for xl.
    pub files: BTreeMap<String, Blob>,
    /// `disk/NAME`: partition contents.
    pub disk_files: BTreeMap<String, Blob>,
    /// `init.pre/`, `init.d/`, `init.post/` and `health.d/` scripts, by
    /// [`Stage`].
    pub init: [BTreeMap<String, Blob>; 4],
    /// `metadata.json`: what the image says about itself (`None`: no
    /// metadata, as in images made before it existed).
    pub meta: Option<meta::Metadata>,
    /// Any other member, kept as it is.
    pub others: BTreeMap<String, Blob>,
    /// The embedded manifest as read (dropped and regenerated on write).
    pub manifest: Option<Blob>,
    /// The signature of the manifest as read (dropped on write: the writer
    /// signs the manifest it writes, or leaves the image unsigned).
    pub signature: Option<Blob>,
    /// The signer's public key as read (dropped on write, like the
    /// signature).
    pub signer: Option<Blob>,
}

/// Unix mode of a member.
pub const MODE_FILE: u32 = 0o644;
/// Unix mode of directories and init scripts.
pub const MODE_EXEC: u32 = 0o755;

/// One member to write, in archive order.
#[derive(Debug, Clone)]
pub enum Member {
    /// A directory (path without trailing `/`, `""` for the root).
    Dir(String),
    /// A regular file.
    File {
        /// Path relative to the image root.
        path: String,
        /// Its mode.
        mode: u32,
        /// Its content.
        blob: Blob,
    },
}

impl Image {
    /// A new image with the default configuration (what `create` starts
    /// from).
    pub fn new_default() -> Image {
        Image {
            params: Some(Params::default()),
            guest_cfg: Some(XlConfig::parse(DEFAULT_GUEST_CFG)),
            disk: Some(DiskConfig::default()),
            ..Image::default()
        }
    }

    /// Init scripts of one stage.
    pub fn init(&self, stage: Stage) -> &BTreeMap<String, Blob> {
        &self.init[stage.index()]
    }

    /// Init scripts of one stage, mutable.
    pub fn init_mut(&mut self, stage: Stage) -> &mut BTreeMap<String, Blob> {
        &mut self.init[stage.index()]
    }

    /// The names of the three configuration files this image lacks.
    pub fn missing_configs(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.guest_cfg.is_none() {
            missing.push("guest.cfg");
        }
        if self.disk.is_none() {
            missing.push("disk.cfg");
        }
        if self.params.is_none() {
            missing.push("params.cfg");
        }
        missing
    }

    /// Builds an image from `(path, blob)` pairs as found in a directory or
    /// archive (paths relative, already checked to be safe).
    pub fn from_members(members: impl IntoIterator<Item = (String, Blob)>) -> Result<Image> {
        let mut image = Image::default();
        for (path, blob) in members {
            image.insert_member(path, blob)?;
        }
        Ok(image)
    }

    fn insert_member(&mut self, path: String, blob: Blob) -> Result<()> {
        match path.as_str() {
            "params.cfg" => self.params = Some(Params::parse(&blob.read_text(&path)?)),
            "guest.cfg" => self.guest_cfg = Some(XlConfig::parse(&blob.read_text(&path)?)),
            "disk.cfg" => self.disk = Some(DiskConfig::parse(&blob.read_text(&path)?)),
            meta::MEMBER => self.meta = Some(meta::Metadata::parse(blob.read_text(&path)?.as_bytes())?),
            MANIFEST => self.manifest = Some(blob),
            SIGNATURE => self.signature = Some(blob),
            SIGNER => self.signer = Some(blob),
            _ => {
                let (dir, name) = path.split_once('/').unwrap_or(("", &path));
                let script = Stage::from_dir(dir).filter(|_| !name.contains('/'));
                let map = match (dir, script) {
                    (_, Some(stage)) => self.init_mut(stage),
                    ("files", _) => &mut self.files,
                    ("disk", _) => &mut self.disk_files,
                    ("guest.d", _) if !name.contains('/') => &mut self.guest_d,
                    _ => {
                        self.others.insert(path, blob);
                        return Ok(());
                    }
                };
                map.insert(name.to_owned(), blob);
            }
        }
        Ok(())
    }

    /// Every member in archive order: sorted by path, each directory
    /// before its content, the manifest and signature members not
    /// included.
    pub fn members(&self) -> Vec<Member> {
        let mut files: BTreeMap<String, (u32, Blob)> = BTreeMap::new();
        let mut add = |path: String, mode: u32, blob: Blob| {
            files.insert(path, (mode, blob));
        };
        if let Some(p) = &self.params {
            add("params.cfg".into(), MODE_FILE, Blob::bytes(p.render()));
        }
        if let Some(g) = &self.guest_cfg {
            add("guest.cfg".into(), MODE_FILE, Blob::bytes(g.render()));
        }
        if let Some(d) = &self.disk {
            add("disk.cfg".into(), MODE_FILE, Blob::bytes(d.render()));
        }
        if let Some(m) = self.meta.as_ref().filter(|m| !m.is_empty()) {
            add(meta::MEMBER.into(), MODE_FILE, Blob::bytes(m.render()));
        }
        for (dir, map, mode) in [
            ("guest.d", &self.guest_d, MODE_FILE),
            ("files", &self.files, MODE_FILE),
            ("disk", &self.disk_files, MODE_FILE),
            (Stage::Pre.dir(), self.init(Stage::Pre), MODE_EXEC),
            (Stage::Main.dir(), self.init(Stage::Main), MODE_EXEC),
            (Stage::Post.dir(), self.init(Stage::Post), MODE_EXEC),
            (Stage::Health.dir(), self.init(Stage::Health), MODE_EXEC),
        ] {
            for (name, blob) in map {
                add(format!("{dir}/{name}"), mode, blob.clone());
            }
        }
        for (path, blob) in &self.others {
            add(path.clone(), MODE_FILE, blob.clone());
        }
        let mut dirs = std::collections::BTreeSet::new();
        dirs.insert(String::new());
        for path in files.keys() {
            let mut end = 0;
            while let Some(i) = path[end..].find('/') {
                end += i;
                dirs.insert(path[..end].to_owned());
                end += 1;
            }
        }
        // Sort on the archive name (`./a/` for directories, `./a/b` for
        // files) so that the order is the one a reader sees.
        let mut out: Vec<(String, Member)> = dirs
            .into_iter()
            .map(|d| (member_name(&d, true), Member::Dir(d)))
            .chain(
                files
                    .into_iter()
                    .map(|(path, (mode, blob))| (member_name(&path, false), Member::File { path, mode, blob })),
            )
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.into_iter().map(|(_, m)| m).collect()
    }
}

/// The archive name of a path: `./` prefix, trailing `/` on directories.
pub fn member_name(path: &str, dir: bool) -> String {
    match (path.is_empty(), dir) {
        (true, _) => "./".to_owned(),
        (false, true) => format!("./{path}/"),
        (false, false) => format!("./{path}"),
    }
}
