# SPDX-License-Identifier: MIT
SUMMARY = "Create, modify, verify and reproducibly build xenguest images"
DESCRIPTION = "xenguest-mkimage writes xenguest images: one file holding a Xen guest's xl configuration, kernel, init scripts, disk layout and partition contents, for a guest manager on the Xen host to deploy."
HOMEPAGE = "https://example.invalid/xenguest-mkimage"
BUGTRACKER = "https://example.invalid/xenguest-mkimage/issues"
SECTION = "devel"
CVE_PRODUCT = "xenguest-mkimage"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://LICENSE;md5=cadb383a005209ad01794400f88b24e3"

require xenguest-mkimage-source.inc

# Only this binary: the crate's host-side xenguest-manager has its own
# recipe (recipes-core/xenguest-manager).
CARGO_BUILD_FLAGS += "--bin xenguest-mkimage"

BBCLASSEXTEND = "native nativesdk"
