# SPDX-License-Identifier: MIT
#
# xenguest_migration.bbclass - stop, at parse time, a recipe or configuration
# written for the retired meta-arm-autonomy layer wherever it relies on
# something this layer does not have, with a message naming the successor.
# Without it, such settings would be ignored silently or fail obscurely at
# task time. Inherited by xenguest_common.bbclass (guest recipes and the
# image type) and xenguest_guests.bbclass; do not inherit it directly.
#
# It refuses:
# - classic variables that were removed or renamed (table below);
# - task code calling the classic shell helpers (call_xenguest_mkimage,
#   xenguest_image_create, ...), which no longer exist;
# - XENGUEST_IMAGE_EXTRA_CMD holding classic `create`/`update` options
#   (--xen-*, --disk-*, --init-*, --set-param, --guest-*): it now holds
#   `xenguest-mkimage build` arguments; the message names the knob to set.
# It maps the classic port forward of a nat guest, XENGUEST_IMAGE_HOST_PORT
# and XENGUEST_IMAGE_GUEST_PORT (default 22), to XENGUEST_IMAGE_PORT_FORWARDS
# ("HOST:GUEST", added to what that holds), with a warning naming it.
# It warns when a guest recipe passes root= a disk device but has no disk
# (the classic default root=/dev/xvda1 with XENGUEST_IMAGE_DISK_SIZE = "0").
#
# The classic class spellings xenguest-image, xenguest-image-extra,
# xenguest_image_extra and kernel-xenguest are classes of their own in
# classes/ that stop the parse naming their replacement.
# meta-xenguest-rs/README.md ("Migrating from meta-arm-autonomy") maps every
# classic name to its successor.

def xenguest_migration_variables():
    """{classic variable: what replaces it}."""
    extra = "SRC_URI plus %s (files from the unpack directory)"
    gone_env = "nothing: xenguest.env/xenguestenv files are gone (use bitbake -e, or xenguest-mkimage dump-paramsconfig on the image)"
    one_file = "XENGUEST_IMAGE_DEPLOY_NAME and XENGUEST_IMAGE_LINK_NAME (every image is one file in DEPLOYDIR; directory images are gone)"
    return {
        'XENGUEST_IMAGE_NETWORK_BRIDGE': 'XENGUEST_IMAGE_NETWORK_TYPE = "bridge" (was 1) or "none" (was 0)',
        'XENGUEST_IMAGE_DEPLOY_DIR': one_file,
        'XENGUEST_IMAGE_DEPLOY_SUBDIR': one_file,
        'XENGUEST_IMAGE_DEPLOY': 'IMAGE_NAME (the image type writes ${IMAGE_NAME}.xenguest)',
        'XENGUEST_IMAGE_VARS': gone_env,
        'XENGUEST_IMAGE_VARS_EXTRA': gone_env,
        'XENGUEST_ENV_STAGING_DIR': gone_env,
        'XENGUEST_IMAGE_SRC_URI_DISK_FILES': extra % 'XENGUEST_EXTRA_DISK_FILES',
        'XENGUEST_IMAGE_SRC_URI_XEN_FILES': extra % 'XENGUEST_EXTRA_FILES',
        'XENGUEST_IMAGE_SRC_URI_XEN_CONFIG': extra % 'XENGUEST_EXTRA_XENCONFIG',
        'XENGUEST_IMAGE_SRC_URI_INIT_PRE': extra % 'XENGUEST_EXTRA_INIT_PRE',
        'XENGUEST_IMAGE_SRC_URI_INIT': extra % 'XENGUEST_EXTRA_INIT',
        'XENGUEST_IMAGE_SRC_URI_INIT_POST': extra % 'XENGUEST_EXTRA_INIT_POST',
        'IMAGE_TYPEDEP_xenguest': 'nothing: IMAGE_TYPEDEP:xenguest follows the rootfs.TYPE partition content of XENGUEST_IMAGE_DISK_PARTITIONS',
        'ARM_AUTONOMY_HOST_IMAGE_EXTERN_GUESTS': 'XENGUEST_GUESTS with one XENGUEST_GUEST_FILE[NAME] per guest (xenguest-guests recipe)',
        'XENGUEST_IMAGE_NAT_PORT_FORWARD_SCRIPT': 'XENGUEST_IMAGE_PORT_FORWARDS = "HOST:GUEST ..." (xenguest-manager adds and removes the rules itself)',
        'MC_DOIMAGE_MCDEPENDS': 'XENGUEST_GUEST_MULTICONFIG[NAME] (xenguest-guests computes the multiconfig dependency)',
    }

def xenguest_migration_helpers():
    """{classic shell helper or task: what replaces it}."""
    knobs = "the XENGUEST_IMAGE_*/XENGUEST_EXTRA_* knobs or a TOML specification (XENGUEST_IMAGE_CONFIG): xenguest_image's do_deploy builds the whole image"
    return {
        'call_xenguest_mkimage': knobs,
        'xenguest_image_create': knobs,
        'xenguest_image_clone': knobs,
        'xenguest_image_pack': knobs,
        'xenguest_image_add_kernel': 'XENGUEST_IMAGE_KERNEL',
        'xenguest_image_add_rootfs': 'XENGUEST_IMAGE_DISK_PARTITIONS with rootfs.TYPE content (image type)',
        'do_bootimg_xenguest': 'do_image_xenguest (IMAGE_CMD:xenguest of image_types_xenguest)',
        'do_deploy_xenguestenv': 'nothing (xenguestenv files are gone)',
        'do_merge_xenguestenv': 'nothing (xenguestenv files are gone)',
    }

def xenguest_migration_extra_cmd_successor(option, value):
    """Knob that replaces a classic create/update option in XENGUEST_IMAGE_EXTRA_CMD."""
    knobs = {
        '--xen-memory': 'XENGUEST_IMAGE_MEMORY_SIZE', '--xen-vcpus': 'XENGUEST_IMAGE_NUM_VCPUS',
        '--xen-root': 'XENGUEST_IMAGE_ROOT', '--xen-extra': 'XENGUEST_IMAGE_CMDLINE',
        '--xen-clean-extra': 'XENGUEST_IMAGE_CMDLINE', '--xen-kernel': 'XENGUEST_IMAGE_KERNEL',
        '--xen-device-tree': 'XENGUEST_EXTRA_DTB', '--xen-ramdisk': 'XENGUEST_EXTRA_RAMDISK',
        '--xen-append': 'XENGUEST_EXTRA_XENCONFIG', '--xen-add-file': 'XENGUEST_EXTRA_FILES',
        '--init-pre': 'XENGUEST_EXTRA_INIT_PRE', '--init-script': 'XENGUEST_EXTRA_INIT',
        '--init-post': 'XENGUEST_EXTRA_INIT_POST', '--disk-size': 'XENGUEST_IMAGE_DISK_SIZE',
        '--disk-device': 'XENGUEST_IMAGE_DISK_DEVICE', '--disk-add-part': 'XENGUEST_IMAGE_DISK_PARTITIONS',
        '--disk-add-file': 'XENGUEST_EXTRA_DISK_FILES',
    }
    params = {'GUEST_AUTOBOOT': 'XENGUEST_IMAGE_AUTOBOOT', 'XENGUEST_NETWORK_TYPE': 'XENGUEST_IMAGE_NETWORK_TYPE'}
    if option == '--set-param':
        param = (value or '').split('=', 1)[0]
        if param in params:
            return params[param]
        return "--set params.%s there (a [params] entry of the TOML)" % (value or 'NAME=VALUE')
    return knobs.get(option, "--set KEY=VALUE there, KEY being the option's TOML key (xenguest-mkimage build --help), "
                             "or a TOML specification (XENGUEST_IMAGE_CONFIG)")

def xenguest_migration_errors(d):
    """Messages for every classic setting or call the recipe still has."""
    import re
    import shlex
    errors = []
    for var, successor in sorted(xenguest_migration_variables().items()):
        if d.getVar(var, False) is not None:
            errors.append("%s is a setting of the retired meta-arm-autonomy layer and is no longer read - use %s" % (var, successor))

    helpers = xenguest_migration_helpers()
    pattern = re.compile(r'\b(%s)\b' % '|'.join(sorted(helpers)))
    for key in sorted(d.keys()):
        if key.startswith('xenguest_migration_') or key == '__anonymous' or not d.getVarFlag(key, 'func', False):
            continue
        if key in helpers:
            errors.append("%s is defined, but the classic task or helper %s is gone - use %s" % (key, key, helpers[key]))
            continue
        match = pattern.search(d.getVar(key, False) or '')
        if match:
            errors.append("%s calls the classic helper %s, which is gone - use %s"
                          % (key, match.group(1), helpers[match.group(1)]))

    extra = d.getVar('XENGUEST_IMAGE_EXTRA_CMD') or ''
    try:
        words = shlex.split(extra)
    except ValueError:
        words = []  # reported with the task's own message
    for word in words:
        option, _, value = word.partition('=')
        if option.startswith(('--xen-', '--disk-', '--init-', '--set-param', '--guest-')):
            errors.append("XENGUEST_IMAGE_EXTRA_CMD '%s' holds %s, an option of the classic `xenguest-mkimage create`, "
                          "but it now holds `xenguest-mkimage build` arguments (e.g. --compress gzip) - use %s instead"
                          % (extra.strip(), word, xenguest_migration_extra_cmd_successor(option, value)))
    return errors

def xenguest_migration_port_forwards(d):
    """(XENGUEST_IMAGE_PORT_FORWARDS with the classic HOST_PORT/GUEST_PORT
    mapped into it, message) - (None, '') when neither is set, (None,
    error) when they cannot be mapped."""
    host = d.getVar('XENGUEST_IMAGE_HOST_PORT', False)
    guest = d.getVar('XENGUEST_IMAGE_GUEST_PORT', False)
    if host is None and guest is None:
        return None, ''
    host = (d.getVar('XENGUEST_IMAGE_HOST_PORT') or '').strip()
    guest = (d.getVar('XENGUEST_IMAGE_GUEST_PORT') or '22').strip()
    if not host:
        return None, ("XENGUEST_IMAGE_GUEST_PORT is a setting of the retired meta-arm-autonomy layer, and its host port "
                      "(1000 + domid, a new one at every start) has no successor - use XENGUEST_IMAGE_PORT_FORWARDS = \"HOST:%s\"" % guest)
    for name, value in (('XENGUEST_IMAGE_HOST_PORT', host), ('XENGUEST_IMAGE_GUEST_PORT', guest)):
        if not value.isdigit() or not 0 < int(value) < 65536:
            return None, "%s '%s' is not a port (1 to 65535) - use XENGUEST_IMAGE_PORT_FORWARDS = \"HOST:GUEST\"" % (name, value)
    forward = "%d:%d" % (int(host), int(guest))
    current = (d.getVar('XENGUEST_IMAGE_PORT_FORWARDS') or '').split()
    value = " ".join(current + ([] if forward in current else [forward]))
    return value, ("XENGUEST_IMAGE_HOST_PORT and XENGUEST_IMAGE_GUEST_PORT are settings of the retired meta-arm-autonomy layer: "
                   "mapped to XENGUEST_IMAGE_PORT_FORWARDS = \"%s\" - set that instead" % value)

def xenguest_migration_root_without_disk(d):
    """The warning for a guest recipe whose kernel is told to mount a disk
    device as root while the image has no disk, or ''."""
    root = (d.getVar('XENGUEST_IMAGE_ROOT') or '').strip()
    size = (d.getVar('XENGUEST_IMAGE_DISK_SIZE') or '0').strip()
    if (d.getVar('XENGUEST_IMAGE_CONFIG') or '').strip() or not root.startswith('/dev/xvd'):
        return ''
    if size.rstrip('MG').lstrip('0') or (d.getVar('XENGUEST_EXTRA_XENCONFIG') or '').strip():
        return ''
    return ("XENGUEST_IMAGE_ROOT is '%s' but XENGUEST_IMAGE_DISK_SIZE is '%s' (no disk): the guest will not find its root "
            "file system - set XENGUEST_IMAGE_DISK_SIZE and XENGUEST_IMAGE_DISK_PARTITIONS, or XENGUEST_IMAGE_ROOT = \"\" "
            "for a kernel with a bundled initramfs" % (root, size))

# The checks must run while parsing, before any task: SkipRecipe or a
# warning cannot be raised later.
# nooelint: oelint.task.noanonpython - migration errors must stop the parse
python __anonymous() {
    errors = xenguest_migration_errors(d)
    forwards, message = xenguest_migration_port_forwards(d)
    if forwards is not None:
        d.setVar('XENGUEST_IMAGE_PORT_FORWARDS', forwards)
        bb.warn("%s: %s" % (d.getVar('PN'), message))
    elif message:
        errors.append(message)
    if errors:
        bb.fatal("%s: written for meta-arm-autonomy (see meta-xenguest-rs/README.md, \"Migrating from meta-arm-autonomy\"):\n  %s"
                 % (d.getVar('PN'), '\n  '.join(errors)))
    if bb.data.inherits_class('xenguest_image', d):
        warning = xenguest_migration_root_without_disk(d)
        if warning:
            bb.warn("%s: %s" % (d.getVar('PN'), warning))
}
