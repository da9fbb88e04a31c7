# SPDX-License-Identifier: MIT
#
# image_types_xenguest.bbclass - the "xenguest" image type: an image recipe
# packs its own root file system and the kernel into a xenguest image.
#
# Usage (local.conf or an image recipe):
#
#     IMAGE_CLASSES += "image_types_xenguest"
#     IMAGE_FSTYPES += "xenguest"
#     # optional: checksum file through OE-core's sha256sum conversion
#     IMAGE_FSTYPES += "xenguest.sha256sum"
#
# The guest is described by the XENGUEST_IMAGE_* / XENGUEST_EXTRA_* knobs of
# xenguest_common.bbclass. Here the default disk holds one ext4 partition
# filled from the image's own root file system archive:
#   XENGUEST_IMAGE_DISK_PARTITIONS ??= "1:${XENGUEST_IMAGE_DISK_SIZE}:ext4:rootfs.tar.gz"
# A partition content named rootfs.TYPE (TYPE = tar, tar.gz, tar.bz2 or
# tar.xz) is this image's ${IMAGE_NAME}.TYPE: IMAGE_TYPEDEP:xenguest follows
# it, so OE-core builds that archive first.
#
# IMAGE_CMD:xenguest runs `xenguest-mkimage build` once and writes
# ${IMGDEPLOYDIR}/${IMAGE_NAME}.xenguest (and its .sha256 sidecar); image.bbclass
# links ${IMAGE_LINK_NAME}.xenguest (and .xenguest.sha256) to them. Since
# OE-core 4.3 (nanbield, so in scarthgap and later) IMAGE_NAME already ends in
# IMAGE_NAME_SUFFIX (.rootfs) and outputs are named ${IMAGE_NAME}.TYPE (before,
# ${IMAGE_NAME}${IMAGE_NAME_SUFFIX}.TYPE), which is what this class writes.
#
# SBOM: with OE's create-spdx inherited, the SBOM of this image's root file
# system goes into the image as sbom/rootfs.spdx.tar.zst (SPDX 2.2,
# scarthgap: written by do_rootfs) or sbom/rootfs.spdx.json (SPDX 3.0,
# master: do_image_xenguest depends on do_create_rootfs_spdx), listed in the
# manifest and so signed; XENGUEST_IMAGE_SBOM adds more (e.g. the kernel's).
#
# Kernel and INITRAMFS_IMAGE: do_image_xenguest depends on
# virtual/kernel:do_deploy to take the kernel from DEPLOY_DIR_IMAGE. When this
# image is itself the kernel's INITRAMFS_IMAGE, the kernel depends on this
# image (do_bundle_initramfs after our do_image_complete), so depending on the
# kernel here would be a cycle. The retired meta-arm-autonomy layer dropped
# the kernel from every image as soon as INITRAMFS_IMAGE was set anywhere;
# this class drops it only from the image that is the INITRAMFS_IMAGE. Build
# the bootable guest of such an image with a xenguest_image recipe that takes
# the bundled kernel instead (XENGUEST_IMAGE_KERNEL =
# "Image-initramfs-${MACHINE}.bin"; see xenguest-example-initramfs_1.0.bb).

inherit xenguest_common

# A disk by default, unless the guest boots from an initramfs (the old layer's rule)
XENGUEST_IMAGE_DISK_SIZE ??= "${@'0' if d.getVar('INITRAMFS_IMAGE') else '4'}"
# One partition over the whole disk, holding this image's root file system
XENGUEST_IMAGE_DISK_PARTITIONS ??= "1:${XENGUEST_IMAGE_DISK_SIZE}:ext4:rootfs.tar.gz"
# Member times of the image, in seconds since the Epoch: the root file
# system's reproducible time stamp (empty: COREBASE's last commit, as
# image.bbclass dates the root file system then; read at task time)
XENGUEST_IMAGE_SOURCE_DATE_EPOCH ??= "${REPRODUCIBLE_TIMESTAMP_ROOTFS}"

# Images do not run do_unpack: local files of the knobs come through FILESPATH.
_XENGUEST_IMAGE_LOCAL_FROM_FILESPATH = "1"

IMAGE_TYPES += "xenguest"
# nooelint: oelint.vars.specific - "xenguest" is the image type this class defines (image.bbclass reads IMAGE_TYPEDEP:<type>)
IMAGE_TYPEDEP:xenguest = "${@xenguest_image_rootfs_typedep(d)}"

def xenguest_image_is_initramfs(d):
    """Whether this image is the kernel's INITRAMFS_IMAGE (see above)."""
    return d.getVar('PN') in (d.getVar('INITRAMFS_IMAGE') or '').split()

def xenguest_image_types_kernel_depends(d):
    if xenguest_image_is_initramfs(d) or not (d.getVar('XENGUEST_IMAGE_KERNEL') or '').strip():
        return ''
    return 'virtual/kernel:do_deploy'

def xenguest_image_types_shell_cmd(d):
    """IMAGE_CMD:xenguest: the build command. image.bbclass expands IMAGE_CMD
    at parse time (with TMPDIR and DATETIME left as references), so this
    only formats variables; the guest's arguments ($_XENGUEST_IMAGE_ARGS,
    shell-quoted --set values) and the member time ($_XENGUEST_IMAGE_EPOCH)
    come from the prefunc, at task time."""
    import shlex
    argv = xenguest_image_argv(d, [], d.getVar('IMGDEPLOYDIR') + '/' + d.getVar('IMAGE_NAME') + '.xenguest', epoch='')
    words = [shlex.quote(a) for a in argv]
    words[argv.index('--source-date-epoch') + 1] = '"$_XENGUEST_IMAGE_EPOCH"'
    # The key's path stays out of the command (and so out of the task
    # signature): the prefunc exports it.
    if '--sign-key' in argv:
        words[argv.index('--sign-key') + 1] = '"$_XENGUEST_IMAGE_SIGN_KEY_PATH"'
    words.insert(2, '"$@"')
    return 'eval "set -- $_XENGUEST_IMAGE_ARGS"; ' + ' '.join(words)

def xenguest_image_types_epoch(d):
    """Member time of the image: XENGUEST_IMAGE_SOURCE_DATE_EPOCH (default
    REPRODUCIBLE_TIMESTAMP_ROOTFS). Empty, the time image.bbclass's
    reproducible_final_image_task gives the root file system then: the last
    commit of COREBASE, else the modification time of conf/bitbake.conf."""
    import os
    import subprocess
    value = (d.getVar('XENGUEST_IMAGE_SOURCE_DATE_EPOCH') or '').strip()
    if not value and d.getVar('COREBASE'):
        result = subprocess.run(['git', '-C', d.getVar('COREBASE'), 'log', '-1', '--pretty=%ct'],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        value = result.stdout.strip() if result.returncode == 0 else ''
    if not value:
        conf = bb.utils.which(d.getVar('BBPATH'), 'conf/bitbake.conf')
        value = str(int(os.stat(conf).st_mtime)) if conf else ''
    if not value.isdigit():
        xenguest_image_fail(d, 'XENGUEST_IMAGE_SOURCE_DATE_EPOCH', value, "is not a number of seconds",
                            "leave it to REPRODUCIBLE_TIMESTAMP_ROOTFS or set e.g. 1520598896")
    return value

def xenguest_image_types_sbom_path(d):
    """(path, name under sbom/) of this image's root file system SBOM that
    OE's create-spdx writes before do_image_xenguest runs, or None when
    create-spdx is not inherited (SPDX_VERSION unset).
    SPDX 2.2 (scarthgap): image_combine_spdx, run at the end of do_rootfs,
    writes ${IMGDEPLOYDIR}/${IMAGE_NAME}.spdx.tar.zst (every document of the
    image). SPDX 3.0 (master): the image's own SBOM comes after
    do_image_complete, so the image type takes the root file system's
    document that do_create_rootfs_spdx deploys (before do_image):
    ${DEPLOY_DIR_SPDX}/${SSTATE_PKGARCH}/rootfs/${IMAGE_BASENAME}-${MACHINE}-rootfs.spdx.json.
    The name under sbom/ is fixed, so the image stays reproducible."""
    import os
    version = (d.getVar('SPDX_VERSION') or '').strip()
    if not version:
        return None
    if version.startswith('2.'):
        return (os.path.join(d.getVar('IMGDEPLOYDIR'), d.getVar('IMAGE_NAME') + '.spdx.tar.zst'),
                'rootfs.spdx.tar.zst')
    name = '%s-%s-rootfs.spdx.json' % (d.getVar('IMAGE_BASENAME'), d.getVar('MACHINE'))
    return (os.path.join(d.getVar('DEPLOY_DIR_SPDX'), d.getVar('SSTATE_PKGARCH'), 'rootfs', name),
            'rootfs.spdx.json')

def xenguest_image_types_sbom(d):
    """The --set image.sbom values of the root file system SBOM (see
    xenguest_image_types_sbom_path); a missing one stops the task."""
    import os
    found = xenguest_image_types_sbom_path(d)
    if not found:
        return []
    path, name = found
    if not os.path.isfile(path):
        xenguest_image_fail(d, 'SPDX_VERSION', d.getVar('SPDX_VERSION'),
                            "is set (create-spdx is inherited) but %s does not exist" % path,
                            "check that create-spdx runs for this image, or remove it from INHERIT")
    return ['%s:%s' % (path, name)]

def xenguest_image_types_sbom_depends(d):
    """SPDX 3.0 writes the root file system document in a task of its own."""
    version = (d.getVar('SPDX_VERSION') or '').strip()
    return '${PN}:do_create_rootfs_spdx' if version.startswith('3') else ''

# nooelint: oelint.vars.specific - "xenguest" is the image type this class defines (image.bbclass reads IMAGE_CMD:<type>)
IMAGE_CMD:xenguest = "${@xenguest_image_types_shell_cmd(d)}"

python xenguest_image_types_prepare() {
    import os
    if (d.getVar('XENGUEST_IMAGE_CONFIG') or '').strip():
        xenguest_image_fail(d, 'XENGUEST_IMAGE_CONFIG', d.getVar('XENGUEST_IMAGE_CONFIG'),
                            "is not used by the xenguest image type",
                            "set the XENGUEST_IMAGE_* variables, or build the guest in a recipe that inherits xenguest_image")
    disk_files = {}
    typedep = xenguest_image_rootfs_typedep(d)
    if typedep:
        rootfs = os.path.join(d.getVar('IMGDEPLOYDIR'), d.getVar('IMAGE_NAME') + '.' + typedep)
        if not os.path.isfile(rootfs):
            xenguest_image_fail(d, 'XENGUEST_IMAGE_DISK_PARTITIONS', d.getVar('XENGUEST_IMAGE_DISK_PARTITIONS'),
                                "names rootfs.%s but %s was not built" % (typedep, rootfs),
                                "check IMAGE_TYPEDEP:xenguest and IMAGE_FSTYPES")
        disk_files['rootfs.' + typedep] = rootfs
    import shlex
    sets = xenguest_image_sets(d, kernel=not xenguest_image_is_initramfs(d), disk_files=disk_files)
    sets += [('XENGUEST_IMAGE_SBOM', 'image.sbom', item) for item in xenguest_image_types_sbom(d)]
    args = xenguest_image_spec_args(d, '', sets)
    xenguest_image_check_inputs(d, args, sets, 'do_image_xenguest')
    # Read by IMAGE_CMD:xenguest, as IMAGE_CMD:ext4 reads set_image_size's ROOTFS_SIZE.
    d.setVar('_XENGUEST_IMAGE_ARGS', ' '.join(shlex.quote(a) for a in args))
    d.setVarFlag('_XENGUEST_IMAGE_ARGS', 'export', '1')
    d.setVar('_XENGUEST_IMAGE_EPOCH', xenguest_image_types_epoch(d))
    d.setVarFlag('_XENGUEST_IMAGE_EPOCH', 'export', '1')
    d.setVar('_XENGUEST_IMAGE_SIGN_KEY_PATH', xenguest_image_sign_key(d))
    d.setVarFlag('_XENGUEST_IMAGE_SIGN_KEY_PATH', 'export', '1')
}
xenguest_image_types_prepare[doc] = "Checks the knobs with the tool and hands IMAGE_CMD:xenguest its --set arguments"

# image.bbclass creates do_image_xenguest in its anonymous function (it
# appends set_image_size to the prefuncs and the types it builds to the
# subimages), so both are completed once all anonymous functions have run,
# as staging.bbclass adds extend_recipe_sysroot: the specification writer
# runs before the command, and create_symlinks also links
# ${IMAGE_LINK_NAME}.xenguest.sha256 to the tool's sidecar - only when the
# task keeps ${IMAGE_NAME}.xenguest (image.bbclass deletes a type that is
# only the input of a conversion, e.g. IMAGE_FSTYPES = "xenguest.sha256sum").
addhandler xenguest_image_types_add_prefunc
xenguest_image_types_add_prefunc[eventmask] = "bb.event.RecipeTaskPreProcess"
python xenguest_image_types_add_prefunc() {
    task = 'do_image_xenguest'
    if not e.data.getVarFlag(task, 'func'):
        return
    if 'xenguest_image_types_prepare' not in (e.data.getVarFlag(task, 'prefuncs') or '').split():
        e.data.appendVarFlag(task, 'prefuncs', ' xenguest_image_types_prepare')
    subimages = (e.data.getVarFlag(task, 'subimages') or '').split()
    if 'xenguest' in subimages and 'xenguest.sha256' not in subimages:
        e.data.setVarFlag(task, 'subimages', ' '.join(subimages + ['xenguest.sha256']))
}
xenguest_image_types_add_prefunc[doc] = "Adds the specification writer to do_image_xenguest's prefuncs"

do_image_xenguest[depends] += "xenguest-mkimage-native:do_populate_sysroot ${@xenguest_image_types_kernel_depends(d)} ${@xenguest_image_types_sbom_depends(d)}"
do_image_xenguest[vardeps] += "${_XENGUEST_IMAGE_KNOBS} INITRAMFS_IMAGE SPDX_VERSION"
do_image_xenguest[file-checksums] += "${@xenguest_image_file_checksums(d)}"
