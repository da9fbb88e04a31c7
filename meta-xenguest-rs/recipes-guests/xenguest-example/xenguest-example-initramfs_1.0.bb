# nooelint: oelint.var.bbclassextend - a guest is built for one MACHINE; there is no native variant
# SPDX-License-Identifier: MIT
SUMMARY = "Example Xen guest without a disk, booting a kernel with a bundled initramfs"
DESCRIPTION = "A xenguest image described by XENGUEST_* variables: only a kernel with its initramfs bundled (INITRAMFS_IMAGE_BUNDLE = 1), no disk."
HOMEPAGE = "https://example.invalid/xenguest-mkimage"
BUGTRACKER = "https://example.invalid/xenguest-mkimage/issues"
SECTION = "base"
CVE_PRODUCT = ""
LICENSE = "MIT"
# nooelint: oelint.var.licenseremotefile - the recipe has no source of its own; it is under the layer's MIT license
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

# Everything comes from virtual/kernel's deploy output.
SRC_URI = ""

inherit xenguest_image

# An example, not part of world builds: it needs a kernel built with INITRAMFS_IMAGE_BUNDLE = "1".
EXCLUDE_FROM_WORLD = "1"

# The kernel deploys the bundled image as KERNEL_IMAGETYPE-INITRAMFS_LINK_NAME.bin
XENGUEST_IMAGE_KERNEL = "Image-initramfs-${MACHINE}.bin"
XENGUEST_IMAGE_MEMORY_SIZE = "256"
XENGUEST_IMAGE_NUM_VCPUS = "1"
XENGUEST_IMAGE_ROOT = ""
XENGUEST_IMAGE_CMDLINE = "console=hvc0 earlyprintk=xenboot"
XENGUEST_IMAGE_DISK_SIZE = "0"
XENGUEST_IMAGE_NETWORK_TYPE = "nat"
