//! Signed images: a detached signature of the embedded manifest.
//!
//! The manifest (`./manifest.sha256`) binds every other member by its
//! sha256; signing the manifest's exact bytes therefore authenticates the
//! whole image. Two members follow the manifest:
//!
//! - `./manifest.sha256.sig`: the signature, in the form OpenSSL makes and
//!   checks directly — Ed25519: the raw 64 bytes (`openssl pkeyutl -sign
//!   -rawin`); ECDSA P-256 with SHA-256: DER `ECDSA-Sig-Value` (`openssl
//!   dgst -sha256 -sign`); RSA: PKCS#1 v1.5 with SHA-256, as many bytes as
//!   the modulus (`openssl dgst -sha256 -sign`).
//! - `./manifest.sha256.pub`: the signer's public key (SPKI PEM). It is a
//!   claim, not a credential: it lets `check` say who signed and tell a wrong
//!   key from a damaged signature, but trust only ever comes from keys the
//!   verifier brings (`verify --key`, `--trust`).
//!
//! Every signature is deterministic (Ed25519 by design, ECDSA with RFC 6979
//! nonces, RSA PKCS#1 v1.5 by construction), so a signed build is still
//! byte-reproducible.
//!
//! A key's fingerprint is the sha256 of its DER `SubjectPublicKeyInfo`, in
//! hex: what `openssl pkey -pubout -outform DER | sha256sum` prints.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use p256::ecdsa::signature::{SignatureEncoding, Signer as _, Verifier};
use pkcs8::der::{Decode, Encode};
use pkcs8::{DecodePrivateKey, EncodePublicKey, ObjectIdentifier};
use sha2::{Digest, Sha256};
use spki::DecodePublicKey;

use crate::checksum::hex;
use crate::error::{Error, IoContext, Result};
use crate::image::reader::{Form, Opened};
use crate::image::tar::Kind;
use crate::image::{Blob, MANIFEST, SIGNATURE, SIGNER};

const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Smallest RSA modulus accepted, in bits (NIST SP 800-131A).
const MIN_RSA_BITS: usize = 2048;

/// Largest key file read, and largest signer member: far above any real
/// key (an RSA-4096 certificate is about 2 KiB).
const MAX_KEY_FILE: u64 = 64 * 1024;

/// Largest signature member: an RSA-4096 signature is 512 bytes.
const MAX_SIGNATURE: u64 = 1024;

/// A signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Ed25519 (RFC 8032) over the manifest itself.
    Ed25519,
    /// ECDSA over P-256 with SHA-256, DER-encoded, RFC 6979 nonces.
    EcdsaP256,
    /// RSA PKCS#1 v1.5 with SHA-256.
    Rsa,
}

impl Algorithm {
    /// The name used in messages and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "ed25519",
            Algorithm::EcdsaP256 => "ecdsa-p256-sha256",
            Algorithm::Rsa => "rsa-pkcs1v15-sha256",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone)]
enum Public {
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
    Rsa(rsa::pkcs1v15::VerifyingKey<Sha256>),
}

/// A public key that signatures are checked with.
#[derive(Clone)]
pub struct PublicKey {
    key: Public,
    /// The canonical DER `SubjectPublicKeyInfo`.
    spki_der: Vec<u8>,
    /// Where it came from, for messages.
    source: String,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("algorithm", &self.algorithm())
            .field("fingerprint", &self.fingerprint())
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl PublicKey {
    /// Reads a PEM public key (`PUBLIC KEY`, i.e. SPKI) or X.509 certificate
    /// (`CERTIFICATE`) from `path`.
    pub fn load(path: &Path) -> Result<PublicKey> {
        let text = read_key_file(path)?;
        PublicKey::from_pem(&text, &path.display().to_string())
    }

    /// Parses a PEM public key or certificate; `source` names it in errors.
    pub fn from_pem(text: &[u8], source: &str) -> Result<PublicKey> {
        let bad = |reason: String| Error::Refused(format!("`{source}` is not a usable public key: {reason}"));
        let (label, der) = first_pem(text).map_err(bad)?;
        let spki = match label.as_str() {
            "PUBLIC KEY" => der,
            "CERTIFICATE" => x509_cert::Certificate::from_der(&der)
                .and_then(|c| c.tbs_certificate.subject_public_key_info.to_der())
                .map_err(|e| bad(format!("bad certificate: {e}")))?,
            "PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" => {
                return Err(bad(format!(
                    "it holds a private key ({label}) - give the public key (`openssl pkey -in KEY.pem -pubout`)"
                )))
            }
            other => return Err(bad(format!("PEM type `{other}`, expected PUBLIC KEY or CERTIFICATE"))),
        };
        PublicKey::from_spki_der(&spki, source).map_err(bad)
    }

    fn from_spki_der(der: &[u8], source: &str) -> std::result::Result<PublicKey, String> {
        let info =
            spki::SubjectPublicKeyInfoRef::try_from(der).map_err(|e| format!("bad SubjectPublicKeyInfo: {e}"))?;
        let (key, canonical) = match algorithm_of(info.algorithm.oid, info.algorithm.parameters_oid().ok())? {
            Algorithm::Ed25519 => {
                let k = ed25519_dalek::VerifyingKey::from_public_key_der(der).map_err(|e| e.to_string())?;
                let c = k.to_public_key_der().map_err(|e| e.to_string())?;
                (Public::Ed25519(k), c)
            }
            Algorithm::EcdsaP256 => {
                let k = p256::ecdsa::VerifyingKey::from_public_key_der(der).map_err(|e| e.to_string())?;
                let c = k.to_public_key_der().map_err(|e| e.to_string())?;
                (Public::P256(k), c)
            }
            Algorithm::Rsa => {
                let k = rsa::RsaPublicKey::from_public_key_der(der)
                    .map_err(|e| format!("{e} (RSA keys of 2048 to 4096 bits are supported)"))?;
                check_rsa_size(&k)?;
                let c = k.to_public_key_der().map_err(|e| e.to_string())?;
                (Public::Rsa(rsa::pkcs1v15::VerifyingKey::new(k)), c)
            }
        };
        Ok(PublicKey {
            key,
            spki_der: canonical.as_bytes().to_vec(),
            source: source.to_owned(),
        })
    }

    /// The signature algorithm of this key.
    pub fn algorithm(&self) -> Algorithm {
        match self.key {
            Public::Ed25519(_) => Algorithm::Ed25519,
            Public::P256(_) => Algorithm::EcdsaP256,
            Public::Rsa(_) => Algorithm::Rsa,
        }
    }

    /// The fingerprint: hex sha256 of the DER `SubjectPublicKeyInfo`.
    pub fn fingerprint(&self) -> String {
        hex(&Sha256::digest(&self.spki_der))
    }

    /// Where the key came from (a path, or the image member).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The key as SPKI PEM (`-----BEGIN PUBLIC KEY-----`), as `openssl pkey
    /// -pubout` writes it.
    ///
    /// # Panics
    ///
    /// Never: PEM encoding of a DER key cannot fail.
    pub fn to_pem(&self) -> String {
        pkcs8::der::pem::encode_string("PUBLIC KEY", pkcs8::der::pem::LineEnding::LF, &self.spki_der)
            .expect("a DER key always encodes as PEM")
    }

    /// Whether `sig` is a valid signature of `message` by this key.
    pub fn verifies(&self, message: &[u8], sig: &[u8]) -> bool {
        match &self.key {
            Public::Ed25519(k) => {
                ed25519_dalek::Signature::from_slice(sig).is_ok_and(|s| k.verify_strict(message, &s).is_ok())
            }
            Public::P256(k) => p256::ecdsa::DerSignature::try_from(sig)
                .is_ok_and(|s| Verifier::<p256::ecdsa::DerSignature>::verify(k, message, &s).is_ok()),
            Public::Rsa(k) => rsa::pkcs1v15::Signature::try_from(sig).is_ok_and(|s| k.verify(message, &s).is_ok()),
        }
    }
}

enum Private {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
    Rsa(rsa::pkcs1v15::SigningKey<Sha256>),
}

/// A private key that signs manifests.
pub struct SigningKey {
    key: Private,
    public: PublicKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret.
        f.debug_struct("SigningKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Reads an unencrypted PKCS#8 PEM private key (`PRIVATE KEY`, as
    /// `openssl genpkey` writes) from `path`; `option` names where the path
    /// came from in errors (e.g. `--sign-key`).
    pub fn load(path: &Path, option: &str) -> Result<SigningKey> {
        let text = read_key_file(path)?;
        SigningKey::from_pem(&text, &path.display().to_string())
            .map_err(|reason| Error::invalid(option, path.display().to_string(), reason))
    }

    /// Parses a PKCS#8 PEM private key; the error says why it is unusable.
    pub fn from_pem(text: &[u8], source: &str) -> std::result::Result<SigningKey, String> {
        let (label, der) = first_pem(text)?;
        match label.as_str() {
            "PRIVATE KEY" => {}
            "ENCRYPTED PRIVATE KEY" => {
                return Err(
                    "the key is encrypted - give an unencrypted PKCS#8 key (`openssl pkey -in KEY.pem -out PLAIN.pem`)"
                        .into(),
                )
            }
            "RSA PRIVATE KEY" | "EC PRIVATE KEY" => {
                return Err(format!(
                    "a traditional `{label}`, not PKCS#8 - convert it with `openssl pkey -in KEY.pem -out KEY.p8.pem`"
                ))
            }
            "PUBLIC KEY" | "CERTIFICATE" => return Err(format!("a {label}, not a private key")),
            other => return Err(format!("PEM type `{other}`, expected PRIVATE KEY (PKCS#8)")),
        }
        let info = pkcs8::PrivateKeyInfo::try_from(der.as_slice()).map_err(|e| format!("bad PKCS#8 key: {e}"))?;
        let key = match algorithm_of(info.algorithm.oid, info.algorithm.parameters_oid().ok())? {
            Algorithm::Ed25519 => {
                Private::Ed25519(ed25519_dalek::SigningKey::from_pkcs8_der(&der).map_err(|e| e.to_string())?)
            }
            Algorithm::EcdsaP256 => {
                Private::P256(p256::ecdsa::SigningKey::from_pkcs8_der(&der).map_err(|e| e.to_string())?)
            }
            Algorithm::Rsa => {
                let k = rsa::RsaPrivateKey::from_pkcs8_der(&der).map_err(|e| e.to_string())?;
                check_rsa_size(&k.to_public_key())?;
                Private::Rsa(rsa::pkcs1v15::SigningKey::new(k))
            }
        };
        let spki = match &key {
            Private::Ed25519(k) => k.verifying_key().to_public_key_der(),
            Private::P256(k) => k.verifying_key().to_public_key_der(),
            Private::Rsa(k) => rsa::RsaPublicKey::from(k.as_ref()).to_public_key_der(),
        }
        .map_err(|e| e.to_string())?;
        let public = PublicKey::from_spki_der(spki.as_bytes(), source)?;
        Ok(SigningKey { key, public })
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Signs `message` (deterministically: same key and message, same bytes).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.key {
            Private::Ed25519(k) => k.sign(message).to_bytes().to_vec(),
            Private::P256(k) => {
                let s: p256::ecdsa::Signature = k.sign(message);
                s.to_der().to_vec()
            }
            Private::Rsa(k) => k.sign(message).to_vec(),
        }
    }
}

fn check_rsa_size(k: &rsa::RsaPublicKey) -> std::result::Result<(), String> {
    let bits = rsa::traits::PublicKeyParts::size(k) * 8;
    if bits < MIN_RSA_BITS {
        return Err(format!("an RSA key of {bits} bits - use at least {MIN_RSA_BITS}"));
    }
    Ok(())
}

fn algorithm_of(oid: ObjectIdentifier, param: Option<ObjectIdentifier>) -> std::result::Result<Algorithm, String> {
    match oid {
        OID_ED25519 => Ok(Algorithm::Ed25519),
        OID_EC_PUBLIC_KEY if param == Some(OID_P256) => Ok(Algorithm::EcdsaP256),
        OID_EC_PUBLIC_KEY => Err(format!(
            "an EC key on curve {} - only P-256 (prime256v1) is supported",
            param.map_or_else(|| "(unnamed)".to_owned(), |p| p.to_string())
        )),
        OID_RSA => Ok(Algorithm::Rsa),
        other => Err(format!(
            "key algorithm {other} is not supported - use Ed25519, ECDSA P-256 or RSA"
        )),
    }
}

fn read_key_file(path: &Path) -> Result<Vec<u8>> {
    // Opened without waiting and checked on the open descriptor: a FIFO or
    // a device named like a key never stalls the verifier.
    crate::regular::read(path, MAX_KEY_FILE).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => Error::io("cannot read key", path, e),
        _ => Error::Refused(format!(
            "key `{}` is not a regular file of at most {MAX_KEY_FILE} bytes ({e})",
            path.display()
        )),
    })
}

/// The label and DER content of the first PEM block in `text` (text before
/// and after it, as `openssl x509 -text` writes, is ignored).
fn first_pem(text: &[u8]) -> std::result::Result<(String, Vec<u8>), String> {
    let text = std::str::from_utf8(text).map_err(|_| "not a PEM file (not text)".to_owned())?;
    let start = text
        .find("-----BEGIN ")
        .ok_or("not a PEM file (no `-----BEGIN` line)")?;
    let end_marker = text[start..]
        .find("-----END ")
        .ok_or("truncated PEM (no `-----END` line)")?
        + start;
    let end = text[end_marker..].find('\n').map_or(text.len(), |i| end_marker + i + 1);
    let (label, der) =
        pkcs8::der::pem::decode_vec(&text.as_bytes()[start..end]).map_err(|e| format!("bad PEM: {e}"))?;
    Ok((label.to_owned(), der))
}

/// Keys a verifier trusts: a signature by any of them is accepted.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    keys: Vec<PublicKey>,
}

impl TrustedKeys {
    /// Reads each PEM file of `files` and every `*.pem` of each directory of
    /// `dirs` (sorted by name). A directory without any key is an error: it
    /// would trust nothing, which is never what was meant.
    pub fn load(files: &[PathBuf], dirs: &[PathBuf]) -> Result<TrustedKeys> {
        let mut keys = TrustedKeys::default();
        for f in files {
            keys.add(PublicKey::load(f)?);
        }
        for dir in dirs {
            let mut pems: Vec<PathBuf> = fs::read_dir(dir)
                .with_path("cannot list trust directory", dir)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "pem"))
                .collect();
            pems.sort();
            if pems.is_empty() {
                return Err(Error::Refused(format!(
                    "trust directory `{}` holds no `*.pem` public key",
                    dir.display()
                )));
            }
            for p in pems {
                keys.add(PublicKey::load(&p)?);
            }
        }
        Ok(keys)
    }

    /// Adds a key.
    pub fn add(&mut self, key: PublicKey) {
        self.keys.push(key);
    }

    /// Whether no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The trusted keys.
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }
}

/// Who signed an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The key's fingerprint (hex sha256 of its SPKI DER).
    pub fingerprint: String,
}

/// What an image says about its signature, checked for consistency only
/// (the signature against the public key the image names), not for trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureStatus {
    /// No signature member.
    Unsigned,
    /// Signed, and the signature matches the manifest under the key the
    /// image names.
    Signed(Signer),
}

/// The three trailing members of an image file, as read.
struct Trailer {
    manifest: Vec<u8>,
    signature: Vec<u8>,
    /// The key the image names: absent, unusable (the error), or a key.
    signer: Option<Result<PublicKey>>,
}

fn read_small(blob: &Blob, name: &str, max: u64) -> Result<Vec<u8>> {
    if blob.len() > max {
        return Err(Error::Verify(format!("member `./{name}` is larger than {max} bytes")));
    }
    blob.read_all(name)
}

/// Reads the signature members; `None` when the image is unsigned.
fn trailer(opened: &Opened) -> Result<Option<Trailer>> {
    let image = &opened.image;
    let Some(sig) = &image.signature else {
        return Ok(None);
    };
    let manifest = image.manifest.as_ref().ok_or_else(|| {
        Error::Verify(format!(
            "`./{SIGNATURE}` is present but there is no `./{MANIFEST}` it could sign"
        ))
    })?;
    let manifest = manifest.read_all(MANIFEST)?;
    let signature = read_small(sig, SIGNATURE, MAX_SIGNATURE)?;
    let signer = image
        .signer
        .as_ref()
        .map(|b| read_small(b, SIGNER, MAX_KEY_FILE).and_then(|pem| PublicKey::from_pem(&pem, &format!("./{SIGNER}"))));
    Ok(Some(Trailer {
        manifest,
        signature,
        signer,
    }))
}

/// Checks that an image's signature matches its manifest under the key the
/// image itself names. This is what `check` reports; it proves nothing about
/// who signed (anyone can sign with their own key): use [`verify_image`]
/// with trusted keys for that.
pub fn status(opened: &Opened) -> Result<SignatureStatus> {
    let Some(t) = trailer(opened)? else {
        return Ok(SignatureStatus::Unsigned);
    };
    let signer = t.signer.ok_or_else(|| {
        Error::Verify(format!(
            "`./{SIGNATURE}` is present but `./{SIGNER}` (the signer's public key) is missing"
        ))
    })??;
    if !signer.verifies(&t.manifest, &t.signature) {
        return Err(Error::Verify(format!(
            "the signature does not match the manifest under the key the image names ({}) - the manifest changed after signing, or the signature was made over a different manifest",
            signer.fingerprint()
        )));
    }
    Ok(SignatureStatus::Signed(Signer {
        algorithm: signer.algorithm(),
        fingerprint: signer.fingerprint(),
    }))
}

/// Checks an image's signature against trusted keys: `Ok` names the trusted
/// key whose signature it is. The error says which of these it is:
/// unsigned; signed by a key that is not trusted (wrong key); or a signature
/// that does not match the manifest (the manifest was changed, or the
/// signature was made over a different manifest).
///
/// This checks the signature only; the manifest then binds the members:
/// check them with [`crate::checksum::manifest_report`] before trusting
/// any member's content.
pub fn verify_image(opened: &Opened, trusted: &TrustedKeys) -> Result<Signer> {
    if trusted.is_empty() {
        return Err(Error::Refused("no trusted public key given".into()));
    }
    trusted_signer(opened, trusted).map_err(|reason| Error::Verify(format!("`{}`: {reason}", opened.path.display())))
}

/// [`verify_image`] without the image's path in the error: the reason the
/// signature is not by one of `trusted` (which is not empty).
pub(crate) fn trusted_signer(opened: &Opened, trusted: &TrustedKeys) -> std::result::Result<Signer, String> {
    let Some(t) = trailer(opened).map_err(|e| e.to_string())? else {
        return Err(format!(
            "the image is unsigned (no `./{SIGNATURE}` member) - sign it with `xenguest-mkimage sign`"
        ));
    };
    if let Some(key) = trusted.keys.iter().find(|k| k.verifies(&t.manifest, &t.signature)) {
        return Ok(Signer {
            algorithm: key.algorithm(),
            fingerprint: key.fingerprint(),
        });
    }
    let fingerprints: Vec<String> = trusted.keys.iter().map(PublicKey::fingerprint).collect();
    // The key the image names only explains the failure; an unusable one
    // explains nothing.
    let reason = match &t.signer.and_then(Result::ok) {
        Some(s) if s.verifies(&t.manifest, &t.signature) => format!(
            "wrong key: it is signed by {} ({}), which is not a trusted key",
            s.fingerprint(),
            s.algorithm()
        ),
        Some(s) if fingerprints.contains(&s.fingerprint()) => format!(
            "the signature by trusted key {} does not match the manifest: the manifest changed after signing, or the signature is over a different manifest",
            s.fingerprint()
        ),
        _ => "the signature matches the manifest under none of the trusted keys: signed by another key, or the manifest changed after signing".to_owned(),
    };
    Err(format!(
        "signature verification failed: {reason} (trusted: {})",
        fingerprints.join(", ")
    ))
}

/// Where the signature members may be, as `check` enforces it: regular
/// files that follow the manifest (an image file's trailer); in a
/// directory image (extracted from a signed image), regular files beside
/// its manifest.
pub fn placement_problems(opened: &Opened) -> Vec<String> {
    let mut problems = Vec::new();
    if opened.form == Form::Dir {
        for member in [SIGNER, SIGNATURE] {
            let p = opened.path.join(member);
            if fs::symlink_metadata(&p).is_ok_and(|m| !m.is_file()) {
                problems.push(format!(
                    "`./{member}` is reserved for a regular file (the image signature)"
                ));
            }
        }
        if opened.image.signature.is_some() && opened.image.manifest.is_none() {
            problems.push(format!("member `./{SIGNATURE}` without `./{MANIFEST}`"));
        }
        if opened.image.signer.is_some() && opened.image.signature.is_none() {
            problems.push(format!(
                "member `./{SIGNER}` (a signer's key) without `./{SIGNATURE}` (its signature)"
            ));
        }
        return problems;
    }
    let manifest_at = opened.entries.iter().position(|(n, _)| n == MANIFEST);
    for (i, (name, entry)) in opened.entries.iter().enumerate() {
        for member in [SIGNER, SIGNATURE] {
            if name == member && entry.kind == Kind::File {
                if manifest_at.map_or(true, |m| i < m) {
                    problems.push(format!("member `./{member}` must follow `./{MANIFEST}`"));
                }
            } else if name == member || name.strip_prefix(member).is_some_and(|rest| rest.starts_with('/')) {
                problems.push(format!(
                    "member `./{name}`: `./{member}` is reserved for a regular file (the image signature)"
                ));
            }
        }
    }
    let has = |member: &str| opened.entries.iter().any(|(n, _)| n == member);
    if has(SIGNER) && !has(SIGNATURE) {
        problems.push(format!(
            "member `./{SIGNER}` (a signer's key) without `./{SIGNATURE}` (its signature)"
        ));
    }
    problems
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A key pair made by `openssl genpkey` (no key is committed).
    pub(crate) fn openssl_keypair(dir: &Path, algorithm: &str) -> (PathBuf, PathBuf) {
        let key = dir.join(format!("{algorithm}.pem"));
        let pub_ = dir.join(format!("{algorithm}.pub.pem"));
        let run = |args: &[&std::ffi::OsStr]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .output()
                .expect("openssl runs");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        };
        run(&[
            "genpkey".as_ref(),
            "-algorithm".as_ref(),
            algorithm.as_ref(),
            "-out".as_ref(),
            key.as_os_str(),
        ]);
        run(&[
            "pkey".as_ref(),
            "-in".as_ref(),
            key.as_os_str(),
            "-pubout".as_ref(),
            "-out".as_ref(),
            pub_.as_os_str(),
        ]);
        (key, pub_)
    }

    #[test]
    fn pem_block_is_found_amid_text() {
        let text = b"Certificate:\n  junk\n-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\ntrailing\n";
        let key = PublicKey::from_pem(text, "t").unwrap();
        assert_eq!(key.algorithm(), Algorithm::Ed25519);
        assert!(key.to_pem().starts_with("-----BEGIN PUBLIC KEY-----\n"));
    }

    #[test]
    fn unsupported_algorithms_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let (key, public) = openssl_keypair(dir.path(), "ED448");
        let e = SigningKey::load(&key, "--key").unwrap_err().to_string();
        assert!(e.contains("--key") && e.contains("not supported"), "{e}");
        let e = PublicKey::load(&public).unwrap_err().to_string();
        assert!(e.contains("not supported"), "{e}");
    }

    #[test]
    fn non_keys_are_refused_with_a_reason() {
        let e = PublicKey::from_pem(b"hello", "f.pem").unwrap_err().to_string();
        assert!(
            e.contains("`f.pem` is not a usable public key") && e.contains("BEGIN"),
            "{e}"
        );
        let e = SigningKey::from_pem(
            b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
            "k",
        )
        .unwrap_err();
        assert!(e.contains("PKCS#8"), "{e}");
    }
}
