# SPDX-License-Identifier: MIT
#
# xenguest_image_extra.bbclass - the meta-arm-autonomy class that added a device tree,
# init scripts and files to a guest. Those are knobs of xenguest_image now
# (XENGUEST_EXTRA_*), so this class stops the parse naming it (see
# meta-xenguest-rs/README.md, "Migrating from meta-arm-autonomy").

# nooelint: oelint.task.noanonpython - a parse-time error is the point of this class
python __anonymous() {
    bb.fatal("%s: inherit xenguest_image_extra is gone - use inherit xenguest_image, which reads the same XENGUEST_EXTRA_* variables "
             "(see meta-xenguest-rs/README.md, \"Migrating from meta-arm-autonomy\")" % d.getVar('PN'))
}
