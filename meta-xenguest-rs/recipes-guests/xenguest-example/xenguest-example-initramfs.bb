# SPDX-License-Identifier: MIT
SUMMARY = "Example Xen guest without a disk, booting a kernel with a bundled initramfs"
DESCRIPTION = "A xenguest image described by XENGUEST_* variables: only a \
kernel with its initramfs bundled (INITRAMFS_IMAGE_BUNDLE = 1), no disk."
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

inherit xenguest_image

# The kernel deploys the bundled image as KERNEL_IMAGETYPE-INITRAMFS_LINK_NAME.bin
XENGUEST_IMAGE_KERNEL = "Image-initramfs-${MACHINE}.bin"
XENGUEST_IMAGE_MEMORY_SIZE = "256"
XENGUEST_IMAGE_NUM_VCPUS = "1"
XENGUEST_IMAGE_ROOT = ""
XENGUEST_IMAGE_CMDLINE = "console=hvc0 earlyprintk=xenboot"
XENGUEST_IMAGE_DISK_SIZE = "0"
XENGUEST_IMAGE_NETWORK_TYPE = "nat"
