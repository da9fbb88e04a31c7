# nooelint: oelint.bbclass.underscores - the classic layer's spelling, kept to name its successor
# SPDX-License-Identifier: MIT
#
# kernel-xenguest.bbclass - the meta-arm-autonomy class (added to
# KERNEL_CLASSES) that packed the kernel with its bundled initramfs into a
# xenguest image. A guest recipe does that now; this class stops the parse
# naming it (see meta-xenguest-rs/README.md, "Migrating from meta-arm-autonomy").

# nooelint: oelint.task.noanonpython - a parse-time error is the point of this class
python __anonymous() {
    bb.fatal("%s: kernel-xenguest is gone - remove it from KERNEL_CLASSES and build the guest with a recipe that "
             "inherits xenguest_image and sets XENGUEST_IMAGE_KERNEL = \"Image-initramfs-${MACHINE}.bin\" "
             "(as xenguest-example-initramfs_1.0.bb does; see meta-xenguest-rs/README.md, \"Migrating from meta-arm-autonomy\")"
             % d.getVar('PN'))
}
