# SPDX-License-Identifier: MIT
SUMMARY = "Create, modify, verify and reproducibly build xenguest images"
DESCRIPTION = "xenguest-mkimage writes xenguest images: one file holding a Xen guest's xl configuration, kernel, init scripts, disk layout and partition contents, for a guest manager on the Xen host to deploy."
HOMEPAGE = "https://example.invalid/xenguest-mkimage"
BUGTRACKER = "https://example.invalid/xenguest-mkimage/issues"
SECTION = "devel"
CVE_PRODUCT = "xenguest-mkimage"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://LICENSE;md5=cadb383a005209ad01794400f88b24e3"

require ${BPN}-crates.inc

# Build the very checkout this layer lives in (meta-xenguest-rs is a
# directory of the xenguest-mkimage repository). Only the files cargo needs
# are listed: fetching the whole directory would take target/ along.
# nooelint: oelint.vars.fileextrapaths,oelint.vars.outofcontext - the sources are the repository holding this layer, not a bbappend's files
FILESEXTRAPATHS:prepend := "${THISDIR}/../../..:"
SRC_URI += "file://Cargo.toml;subdir=${BP} \
            file://Cargo.lock;subdir=${BP} \
            file://build.rs;subdir=${BP} \
            file://src;subdir=${BP} \
            file://LICENSE;subdir=${BP} \
            "

# scarthgap unpacks into WORKDIR, later releases into UNPACKDIR
S = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}/${BP}"

inherit cargo cargo-update-recipe-crates

BBCLASSEXTEND = "native nativesdk"
