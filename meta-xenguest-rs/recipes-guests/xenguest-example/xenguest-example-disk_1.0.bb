# nooelint: oelint.var.bbclassextend - a guest is built for one MACHINE; there is no native variant
# SPDX-License-Identifier: MIT
SUMMARY = "Example Xen guest with a disk holding a root file system"
DESCRIPTION = "A xenguest image described by a TOML specification: the kernel from virtual/kernel, one ext4 partition filled from the core-image-minimal root file system archive, and a host init script."
HOMEPAGE = "https://example.invalid/xenguest-mkimage"
BUGTRACKER = "https://example.invalid/xenguest-mkimage/issues"
SECTION = "base"
CVE_PRODUCT = ""
LICENSE = "MIT"
# nooelint: oelint.var.licenseremotefile - the sources are this layer's own files, under the layer's MIT license
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

SRC_URI = "file://guest.toml \
           file://example-setup.sh \
           file://example.cfg \
           "

inherit xenguest_image

# An example, not part of world builds: it needs core-image-minimal with IMAGE_FSTYPES holding tar.gz and a kernel deploying Image.
EXCLUDE_FROM_WORLD = "1"

XENGUEST_IMAGE_CONFIG = "guest.toml"

# guest.toml reads the kernel and the root file system archive from
# DEPLOY_DIR_IMAGE; the archive needs IMAGE_FSTYPES to hold "tar.gz" for
# core-image-minimal (e.g. IMAGE_FSTYPES:append:pn-core-image-minimal = " tar.gz").
do_deploy[depends] += "virtual/kernel:do_deploy core-image-minimal:do_image_complete"
