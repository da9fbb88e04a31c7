# SPDX-License-Identifier: MIT
#
# xenguest_image.bbclass - a recipe that builds one xenguest image (a Xen
# guest in one file: xl configuration, kernel, init scripts, disk layout and
# partition contents) with `xenguest-mkimage build`, and deploys it.
#
# Usage
# -----
# 1. From a TOML guest specification shipped with the recipe:
#
#        inherit xenguest_image
#        SRC_URI = "file://guest.toml file://setup.sh"
#        XENGUEST_IMAGE_CONFIG = "guest.toml"
#        # what the TOML reads from other recipes:
#        do_deploy[depends] += "virtual/kernel:do_deploy"
#
#    Relative paths in the TOML are relative to the TOML (so list them in
#    SRC_URI too); ${NAME} references are filled from the BitBake variables
#    named in XENGUEST_IMAGE_DEFINES (default: DEPLOY_DIR_IMAGE MACHINE), e.g.
#    kernel = "${DEPLOY_DIR_IMAGE}/Image".
#
# 2. From BitBake variables, when XENGUEST_IMAGE_CONFIG is empty: the
#    XENGUEST_IMAGE_* and XENGUEST_EXTRA_* knobs declared (with their units)
#    in xenguest_common.bbclass, e.g.
#
#        inherit xenguest_image
#        XENGUEST_IMAGE_MEMORY_SIZE = "256"
#        XENGUEST_IMAGE_KERNEL = "Image-initramfs-${MACHINE}.bin"
#        XENGUEST_IMAGE_ROOT = ""
#
#    The class passes them to the same `build` as `--set KEY=VALUE` (one
#    table in xenguest_common.bbclass maps each knob to its TOML key), so the
#    tool applies the same rules either way.
#    do_deploy depends on virtual/kernel:do_deploy when the kernel, device
#    tree or ramdisk is a file name in DEPLOY_DIR_IMAGE.
#
# Output (through deploy.bbclass, so it is shared state):
#   ${DEPLOY_DIR_IMAGE}/${XENGUEST_IMAGE_DEPLOY_NAME}.xenguest (+ .sha256)
#   ${DEPLOY_DIR_IMAGE}/${XENGUEST_IMAGE_LINK_NAME}.xenguest   (+ .sha256), links
#
# Configuration errors stop do_deploy at its start with a message naming the
# variable, its value and the fix.

inherit deploy nopackages xenguest_common

# TOML guest specification, a file from SRC_URI (empty: use the XENGUEST_* variables)
XENGUEST_IMAGE_CONFIG ??= ""
# Stable name of the deployed image, without .xenguest (a link to the versioned file)
XENGUEST_IMAGE_LINK_NAME ??= "${PN}-${MACHINE}"
# Versioned name of the deployed image, without .xenguest
XENGUEST_IMAGE_DEPLOY_NAME ??= "${XENGUEST_IMAGE_LINK_NAME}-${PV}-${PR}"

# The files of SRC_URI are unpacked straight into the unpack directory, not
# into ${BP}/: point S there, as OE-core's recipes of local files do (else
# insane.bbclass's do_qa_unpack warns that S does not exist). That is
# UNPACKDIR on styhead and later and WORKDIR on scarthgap, which has no
# UNPACKDIR and still accepts S = WORKDIR.
S = "${_XENGUEST_IMAGE_SRCDIR}"

INHIBIT_DEFAULT_DEPS = "1"
PACKAGE_ARCH = "${MACHINE_ARCH}"

do_configure[noexec] = "1"
do_compile[noexec] = "1"

def xenguest_image_recipe_depends(d):
    """virtual/kernel:do_deploy when a knob names a file in DEPLOY_DIR_IMAGE."""
    import os
    if (d.getVar('XENGUEST_IMAGE_CONFIG') or '').strip():
        return ''
    for var in ('XENGUEST_IMAGE_KERNEL', 'XENGUEST_EXTRA_DTB', 'XENGUEST_EXTRA_RAMDISK'):
        value = (d.getVar(var) or '').strip()
        if value and not os.path.isabs(value):
            return 'virtual/kernel:do_deploy'
    return ''

python do_deploy() {
    import os

    config = (d.getVar('XENGUEST_IMAGE_CONFIG') or '').strip()
    if config:
        spec = os.path.join(d.getVar('_XENGUEST_IMAGE_SRCDIR'), config)
        if not os.path.isfile(spec):
            xenguest_image_fail(d, 'XENGUEST_IMAGE_CONFIG', config, "is not in the unpack directory (%s)" % spec,
                                "add file://%s to SRC_URI" % config)
    else:
        spec = ''

    deploydir = d.getVar('DEPLOYDIR')
    name = d.getVar('XENGUEST_IMAGE_DEPLOY_NAME') + '.xenguest'
    link = d.getVar('XENGUEST_IMAGE_LINK_NAME') + '.xenguest'
    xenguest_image_build(d, spec, os.path.join(deploydir, name))

    if link != name:
        for suffix in ('', '.sha256'):
            dst = os.path.join(deploydir, link + suffix)
            if os.path.lexists(dst):
                os.remove(dst)
            os.symlink(name + suffix, dst)
}
do_deploy[depends] += "xenguest-mkimage-native:do_populate_sysroot ${@xenguest_image_recipe_depends(d)}"
do_deploy[vardeps] += "${_XENGUEST_IMAGE_KNOBS} XENGUEST_IMAGE_LINK_NAME XENGUEST_IMAGE_DEPLOY_NAME"
do_deploy[file-checksums] += "${@xenguest_image_file_checksums(d)}"
do_deploy[dirs] = "${_XENGUEST_IMAGE_WORKDIR}"
do_deploy[cleandirs] = "${_XENGUEST_IMAGE_WORKDIR} ${DEPLOYDIR}"

addtask deploy after do_unpack before do_build
