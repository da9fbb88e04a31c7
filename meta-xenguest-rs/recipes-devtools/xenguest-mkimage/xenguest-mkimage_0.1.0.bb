# SPDX-License-Identifier: MIT
SUMMARY = "Create, modify, verify and reproducibly build xenguest images"
DESCRIPTION = "xenguest-mkimage writes xenguest images: one file holding a Xen guest's xl configuration, kernel, init scripts, disk layout and partition contents, for a guest manager on the Xen host to deploy."
HOMEPAGE = "https://example.invalid/xenguest-mkimage"
BUGTRACKER = "https://example.invalid/xenguest-mkimage/issues"
SECTION = "devel"
CVE_PRODUCT = "xenguest-mkimage"
LICENSE = "MIT"
# The package declares license = "MIT" in Cargo.toml and ships no license
# text of its own yet, so the checksum is taken from OE-core's copy.
# nooelint: oelint.var.licenseremotefile - no license file in the sources yet (see above)
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

require ${BPN}-crates.inc

# Build the very checkout this layer lives in (meta-xenguest-rs is a
# directory of the xenguest-mkimage repository). Only the files cargo needs
# are listed: fetching the whole directory would take target/ along.
# nooelint: oelint.vars.fileextrapaths,oelint.vars.outofcontext - the sources are the repository holding this layer, not a bbappend's files
FILESEXTRAPATHS:prepend := "${THISDIR}/../../..:"
SRC_URI += "file://Cargo.toml;subdir=${BP} \
            file://Cargo.lock;subdir=${BP} \
            file://src;subdir=${BP} \
            "

# scarthgap unpacks into WORKDIR, later releases into UNPACKDIR
S = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}/${BP}"

inherit cargo cargo-update-recipe-crates

BBCLASSEXTEND = "native nativesdk"
