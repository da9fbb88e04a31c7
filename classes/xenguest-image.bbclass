# nooelint: oelint.bbclass.underscores - the classic layer's spelling, kept to name its successor
# SPDX-License-Identifier: MIT
#
# xenguest-image.bbclass - the oldest meta-arm-autonomy spelling of the guest
# recipe class. It stops the parse naming the class to inherit instead (see
# meta-xenguest-rs/README.md, "Migrating from meta-arm-autonomy").

# nooelint: oelint.task.noanonpython - a parse-time error is the point of this class
python __anonymous() {
    bb.fatal("%s: inherit xenguest-image is the retired meta-arm-autonomy spelling - use inherit xenguest_image "
             "(same XENGUEST_IMAGE_*/XENGUEST_EXTRA_* knobs; see meta-xenguest-rs/README.md, \"Migrating from meta-arm-autonomy\")"
             % d.getVar('PN'))
}
