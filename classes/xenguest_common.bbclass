# SPDX-License-Identifier: MIT
#
# xenguest_common.bbclass - shared part of xenguest_image.bbclass (guest
# recipes) and image_types_xenguest.bbclass (IMAGE_FSTYPES += "xenguest").
# Do not inherit it directly.
#
# It declares the XENGUEST_* knobs (names kept from the retired
# meta-arm-autonomy layer) and hands them to `xenguest-mkimage build` as
# `--set KEY=VALUE` arguments, through ONE table (_XENGUEST_IMAGE_KNOB_TABLE:
# knob, TOML key, unit). The class knows no TOML: it neither writes nor reads
# it. The tool parses and checks every value with the same declarations as
# its command-line options and TOML keys; when it refuses one, the task
# fails naming the knob and the value, with the tool's reason. The class
# only finds files: a knob names a file in BitBake's terms (a name in
# DEPLOY_DIR_IMAGE or from SRC_URI), the tool gets its path.
#
# Paths in the knobs:
# - XENGUEST_IMAGE_KERNEL, XENGUEST_EXTRA_DTB and XENGUEST_EXTRA_RAMDISK are
#   build artifacts: a relative name is looked up in DEPLOY_DIR_IMAGE.
# - XENGUEST_EXTRA_XENCONFIG, XENGUEST_EXTRA_INIT*, and the sources of
#   XENGUEST_EXTRA_FILES and XENGUEST_EXTRA_DISK_FILES come from SRC_URI: a
#   relative name is looked up in the unpack directory (image recipes, which
#   do not unpack, look it up through FILESPATH). List archives meant for
#   disk/ as file://NAME.tar;unpack=0, or the fetcher unpacks them.
# - An absolute path is used as it is.

# Recipes written for meta-arm-autonomy stop with the successor's name.
inherit xenguest_migration

# Name of the image in its metadata (metadata.json; `xenguest-mkimage info`)
XENGUEST_IMAGE_NAME ??= "${PN}"
# Version of the image in its metadata
XENGUEST_IMAGE_VERSION ??= "${PV}"
# One line about the guest in its metadata (text; empty: none)
XENGUEST_IMAGE_DESCRIPTION ??= ""
# Hosts the image may be installed on: names one of which a host's XENGUEST_COMPATIBLE must list (space-separated; empty: any host)
XENGUEST_IMAGE_COMPATIBLE ??= "${MACHINE}"
# Architecture of the guest kernel, checked by the host: x86_64, aarch64 or arm (default: from TARGET_ARCH; empty: unchecked)
XENGUEST_IMAGE_ARCH ??= "${@xenguest_image_arch(d)}"
# Oldest Xen version the guest runs on, checked by the host (e.g. 4.17; empty: unchecked)
XENGUEST_IMAGE_XEN_VERSION ??= ""
# SBOM documents stored under sbom/ (space-separated file names in DEPLOY_DIR_IMAGE or absolute paths; the image type adds its own root file system's SPDX output when create-spdx is inherited)
XENGUEST_IMAGE_SBOM ??= ""
# Guest memory size, in MB
XENGUEST_IMAGE_MEMORY_SIZE ??= "512"
# Number of virtual CPUs of the guest (a count)
XENGUEST_IMAGE_NUM_VCPUS ??= "1"
# Start the guest when the host boots: 1 (yes) or 0 (no)
XENGUEST_IMAGE_AUTOBOOT ??= "1"
# Device passed to the guest kernel as root= (a device path; empty: none)
XENGUEST_IMAGE_ROOT ??= "/dev/xvda1"
# Guest kernel command line, replacing the tool's default (kernel arguments; empty: the default)
XENGUEST_IMAGE_CMDLINE ??= "earlyprintk=xenboot console=hvc0 rw"
# Extra arguments for `xenguest-mkimage build` (shell words, e.g. "--compress gzip")
XENGUEST_IMAGE_EXTRA_CMD ??= ""
# Guest kernel (a file name in DEPLOY_DIR_IMAGE or an absolute path; empty: no kernel)
XENGUEST_IMAGE_KERNEL ??= "Image"
# Guest disk size (N or NG in GB, NM in MB, 1G = 1000M; 0: no disk)
XENGUEST_IMAGE_DISK_SIZE ??= "0"
# Host device or volume group holding the guest disk (a path; empty: the host's default)
XENGUEST_IMAGE_DISK_DEVICE ??= ""
# Guest disk partitions (space-separated num:size:fs:file; size as for DISK_SIZE)
XENGUEST_IMAGE_DISK_PARTITIONS ??= ""
# Partitions holding persistent data, whose content xenguest-manager update carries to the new disk (space-separated partition numbers)
XENGUEST_IMAGE_DISK_KEEP ??= ""
# Guest network set up by the host (a keyword: bridge, nat or none)
XENGUEST_IMAGE_NETWORK_TYPE ??= "bridge"
# Ports of Dom0 forwarded to a nat guest (space-separated HOST:GUEST or HOST:GUEST/udp; empty: none)
XENGUEST_IMAGE_PORT_FORWARDS ??= ""
# Seconds xenguest-manager update waits for the updated guest to be healthy before it rolls back (1 to 86400; empty: the manager's default, 120)
XENGUEST_IMAGE_HEALTH_TIMEOUT ??= ""
# Device tree for the guest (a file name in DEPLOY_DIR_IMAGE or an absolute path; empty: none)
XENGUEST_EXTRA_DTB ??= ""
# Initial ramdisk for the guest (a file name in DEPLOY_DIR_IMAGE or an absolute path; empty: none)
XENGUEST_EXTRA_RAMDISK ??= ""
# xl configuration fragments copied into guest.d/ (space-separated files from SRC_URI)
XENGUEST_EXTRA_XENCONFIG ??= ""
# Host scripts run before the guest is created (space-separated files from SRC_URI)
XENGUEST_EXTRA_INIT_PRE ??= ""
# Host scripts run once the guest is created, before it starts (space-separated files from SRC_URI)
XENGUEST_EXTRA_INIT ??= ""
# Host scripts run once the guest is running (space-separated files from SRC_URI)
XENGUEST_EXTRA_INIT_POST ??= ""
# Host health checks run after xenguest-manager update until they all succeed (space-separated files from SRC_URI)
XENGUEST_EXTRA_HEALTH ??= ""
# Files stored under files/ (space-separated SRC[:DST]; DST defaults to the basename of SRC)
XENGUEST_EXTRA_FILES ??= ""
# Files stored under disk/, used as partition content (space-separated SRC[:DST])
XENGUEST_EXTRA_DISK_FILES ??= ""
# Any further TOML keys for `build --set` (space-separated KEY=VALUE, e.g. "guest.type=pvh"; after the knobs above, so they win)
XENGUEST_IMAGE_SET ??= ""
# BitBake variables handed to the tool as --define NAME=VALUE (space-separated names)
XENGUEST_IMAGE_DEFINES ??= "DEPLOY_DIR_IMAGE MACHINE"
# Modification time of the image members (seconds since the Epoch)
XENGUEST_IMAGE_SOURCE_DATE_EPOCH ??= "${SOURCE_DATE_EPOCH}"

# The one table of the knobs that describe the guest: knob, TOML key of
# `xenguest-mkimage build --set`, unit (how the class passes the value):
#   value       the knob's value, as it is
#   deploy-file a file name in DEPLOY_DIR_IMAGE or an absolute path; empty: none
#   deploy-files space-separated deploy-file names, one --set each
#   src-files   space-separated files from SRC_URI, one --set each
#   src-pairs   space-separated SRC[:DST], SRC from SRC_URI, one --set each
#   items       space-separated items, one --set each
#   disk        like value (disk.size, disk.device), src-pairs (disk.files)
#               or items (disk.partitions, disk.keep), but only when
#               XENGUEST_IMAGE_DISK_SIZE is not 0 (a zero size means no
#               disk, as the old layer had it)
#   assignments space-separated KEY=VALUE for any key (key column: *), so a
#               setting the tool gains is usable without a new knob
# Signatures (vardeps), the documentation and the tests take the knob list
# from here.
_XENGUEST_IMAGE_KNOB_TABLE = "\
    XENGUEST_IMAGE_NAME:image.name:value \
    XENGUEST_IMAGE_VERSION:image.version:value \
    XENGUEST_IMAGE_DESCRIPTION:image.description:value \
    XENGUEST_IMAGE_COMPATIBLE:image.compatible:value \
    XENGUEST_IMAGE_ARCH:image.arch:value \
    XENGUEST_IMAGE_XEN_VERSION:image.xen:value \
    XENGUEST_IMAGE_SBOM:image.sbom:deploy-files \
    XENGUEST_IMAGE_MEMORY_SIZE:guest.memory:value \
    XENGUEST_IMAGE_NUM_VCPUS:guest.vcpus:value \
    XENGUEST_IMAGE_AUTOBOOT:guest.autoboot:value \
    XENGUEST_IMAGE_ROOT:guest.root:value \
    XENGUEST_IMAGE_CMDLINE:guest.cmdline:value \
    XENGUEST_IMAGE_KERNEL:guest.kernel:deploy-file \
    XENGUEST_EXTRA_DTB:guest.device_tree:deploy-file \
    XENGUEST_EXTRA_RAMDISK:guest.ramdisk:deploy-file \
    XENGUEST_IMAGE_NETWORK_TYPE:params.XENGUEST_NETWORK_TYPE:value \
    XENGUEST_IMAGE_PORT_FORWARDS:guest.port_forwards:value \
    XENGUEST_IMAGE_HEALTH_TIMEOUT:guest.health_timeout:value \
    XENGUEST_EXTRA_XENCONFIG:xen.config:src-files \
    XENGUEST_EXTRA_FILES:xen.files:src-pairs \
    XENGUEST_EXTRA_INIT_PRE:init.pre:src-files \
    XENGUEST_EXTRA_INIT:init.scripts:src-files \
    XENGUEST_EXTRA_INIT_POST:init.post:src-files \
    XENGUEST_EXTRA_HEALTH:init.health:src-files \
    XENGUEST_IMAGE_DISK_SIZE:disk.size:disk \
    XENGUEST_IMAGE_DISK_DEVICE:disk.device:disk \
    XENGUEST_EXTRA_DISK_FILES:disk.files:disk \
    XENGUEST_IMAGE_DISK_PARTITIONS:disk.partitions:disk \
    XENGUEST_IMAGE_DISK_KEEP:disk.keep:disk \
    XENGUEST_IMAGE_SET:*:assignments \
"

# Every knob: the table's, and those that say how the tool runs. The tasks
# that build an image depend on all of them.
_XENGUEST_IMAGE_KNOBS = "\
    ${@' '.join(xenguest_image_knob_names(d))} \
    XENGUEST_IMAGE_CONFIG XENGUEST_IMAGE_EXTRA_CMD XENGUEST_IMAGE_DEFINES \
    XENGUEST_IMAGE_SOURCE_DATE_EPOCH ${XENGUEST_IMAGE_DEFINES} \
"

# Signing (docs/layer.md, "Signed images"). The key's path is left out of the
# task signatures, so moving the key file rebuilds nothing; the key itself is
# in them through _XENGUEST_IMAGE_SIGN_KEY_ID, so another key rebuilds.
# PEM private key (PKCS#8: Ed25519, ECDSA P-256 or RSA) that signs the image (a path; empty: unsigned)
XENGUEST_IMAGE_SIGN_KEY ??= ""
# Identity of the signing key in the task signatures: the sha256 of the key
# file's DER content, read at parse time (the tool, which could print the
# public fingerprint, is not built yet then). Empty: unsigned.
_XENGUEST_IMAGE_SIGN_KEY_ID = "${@xenguest_image_sign_key_id(d)}"
_XENGUEST_IMAGE_SIGN_KEY_ID[vardepvalue] = "${_XENGUEST_IMAGE_SIGN_KEY_ID}"
_XENGUEST_IMAGE_SIGN_KEY_ID[vardepsexclude] = "XENGUEST_IMAGE_SIGN_KEY"
# Knobs deliberately outside the task signatures (not in _XENGUEST_IMAGE_KNOBS):
# the key's path, for which _XENGUEST_IMAGE_SIGN_KEY_ID stands.
_XENGUEST_IMAGE_UNSIGNED_KNOBS = "XENGUEST_IMAGE_SIGN_KEY"

def xenguest_image_sign_key(d):
    """Path of the signing key (XENGUEST_IMAGE_SIGN_KEY), checked to be a
    PEM private key; '' when images are not signed."""
    import os
    var = 'XENGUEST_IMAGE_SIGN_KEY'
    value = (d.getVar(var) or '').strip()
    if not value:
        return ''
    if not os.path.isabs(value):
        xenguest_image_fail(d, var, value, "is not an absolute path", "give the full path of the PEM private key")
    try:
        with open(value, 'rb') as f:
            text = f.read(65537)
    except OSError as e:
        xenguest_image_fail(d, var, value, "cannot be read (%s)" % e.strerror,
                            "point it at a PEM private key, e.g. made by openssl genpkey -algorithm ed25519")
    if b'-----BEGIN PRIVATE KEY-----' not in text or b'-----END PRIVATE KEY-----' not in text:
        xenguest_image_fail(d, var, value, "is not a PEM private key (PKCS#8, -----BEGIN PRIVATE KEY-----)",
                            "make one with openssl genpkey, or convert a key with openssl pkey -in OLD.pem -out KEY.pem")
    return value
xenguest_image_sign_key[vardepsexclude] = "XENGUEST_IMAGE_SIGN_KEY"

def xenguest_image_sign_key_id(d):
    """sha256 of the signing key's DER (what the task signatures include)."""
    import base64
    import hashlib
    import re
    path = xenguest_image_sign_key(d)
    if not path:
        return ''
    with open(path, 'rb') as f:
        text = f.read()
    body = re.search(rb'-----BEGIN PRIVATE KEY-----(.*?)-----END PRIVATE KEY-----', text, re.S)
    try:
        der = base64.b64decode(b''.join(body.group(1).split()), validate=True)
    except Exception:
        xenguest_image_fail(d, 'XENGUEST_IMAGE_SIGN_KEY', path, "is not a PEM private key (bad base64)",
                            "make one with openssl genpkey")
    return hashlib.sha256(der).hexdigest()

def xenguest_image_sign_args(d):
    """The tool's --sign-key option for XENGUEST_IMAGE_SIGN_KEY ([] when unsigned)."""
    path = xenguest_image_sign_key(d)
    return ['--sign-key', path] if path else []
xenguest_image_sign_args[vardepsexclude] = "XENGUEST_IMAGE_SIGN_KEY"
xenguest_image_sign_args[vardeps] = "_XENGUEST_IMAGE_SIGN_KEY_ID"

# Where files from SRC_URI are unpacked (UNPACKDIR on newer releases).
_XENGUEST_IMAGE_SRCDIR = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}"
# "1": local files of the knobs are looked up through FILESPATH instead of
# the unpack directory (image recipes do not run do_unpack).
_XENGUEST_IMAGE_LOCAL_FROM_FILESPATH ?= "0"
# Working directory of the build.
_XENGUEST_IMAGE_WORKDIR = "${WORKDIR}/xenguest-image"

def xenguest_image_fail(d, var, value, problem, fix):
    """Stop the task with a message naming the knob, its value and the fix."""
    bb.fatal("%s '%s' %s - %s" % (var, value, problem, fix))

def xenguest_image_knob_table(d):
    """[(knob, TOML key, unit)] from _XENGUEST_IMAGE_KNOB_TABLE."""
    return [tuple(row.split(':', 2)) for row in (d.getVar('_XENGUEST_IMAGE_KNOB_TABLE') or '').split()]

def xenguest_image_knob_names(d):
    return [knob for knob, _, _ in xenguest_image_knob_table(d)]

def xenguest_image_knob(d, var):
    """Value of a knob, stripped."""
    return (d.getVar(var) or '').strip()

def xenguest_image_size_is_zero(value):
    return value.rstrip('MG').lstrip('0') == ''

def xenguest_image_local_path(d, value):
    """Where a relative local file name (from SRC_URI) is found."""
    import os
    if os.path.isabs(value):
        return value
    if d.getVar('_XENGUEST_IMAGE_LOCAL_FROM_FILESPATH') == '1':
        found = bb.utils.which(d.getVar('FILESPATH') or '', value)
        if found:
            return found
    return os.path.join(d.getVar('_XENGUEST_IMAGE_SRCDIR'), value)

def xenguest_image_arch(d):
    """The architecture of the guest kernel in the tool's words, from
    TARGET_ARCH; '' (unchecked) for another architecture."""
    arch = d.getVar('TARGET_ARCH') or ''
    if arch == 'x86_64' or arch == 'aarch64':
        return arch
    if arch.startswith('arm'):
        return 'arm'
    return ''

def xenguest_image_deploy_path(d, value):
    """Where a file name in DEPLOY_DIR_IMAGE (or an absolute path) is."""
    import os
    return value if os.path.isabs(value) else os.path.join(d.getVar('DEPLOY_DIR_IMAGE'), value)

def xenguest_image_rootfs_typedep(d):
    """Image type that a partition takes as content (rootfs.TYPE), or ''."""
    size = (d.getVar('XENGUEST_IMAGE_DISK_SIZE') or '0').strip()
    if xenguest_image_size_is_zero(size):
        return ''
    for item in (d.getVar('XENGUEST_IMAGE_DISK_PARTITIONS') or '').split():
        content = item.split(':')[-1]
        if content.startswith('rootfs.tar'):
            return content[len('rootfs.'):]
    return ''

def xenguest_image_sets(d, kernel=True, disk_files=None):
    """The knobs as [(knob, TOML key, value)] for `build --set KEY=VALUE`,
    in table order. kernel: whether XENGUEST_IMAGE_KERNEL is used;
    disk_files: extra {destination: absolute path} entries for disk/ (the
    image's own root file system)."""
    import os
    has_disk = not xenguest_image_size_is_zero(xenguest_image_knob(d, 'XENGUEST_IMAGE_DISK_SIZE') or '0')
    sets = []
    for knob, key, unit in xenguest_image_knob_table(d):
        value = xenguest_image_knob(d, knob)
        if unit == 'disk':
            if not has_disk:
                continue
            if key == 'disk.files':
                unit = 'src-pairs'
            elif key in ('disk.partitions', 'disk.keep'):
                unit = 'items'
            else:
                unit = 'value'
        if unit == 'value':
            sets.append((knob, key, value))
        elif unit == 'deploy-file':
            if value and (kernel or knob != 'XENGUEST_IMAGE_KERNEL'):
                sets.append((knob, key, xenguest_image_deploy_path(d, value)))
        elif unit == 'deploy-files':
            sets += [(knob, key, xenguest_image_deploy_path(d, v)) for v in value.split()]
        elif unit == 'src-files':
            sets += [(knob, key, xenguest_image_local_path(d, v)) for v in value.split()]
        elif unit == 'src-pairs':
            for item in value.split():
                src, sep, dst = item.rpartition(':')
                if not sep:
                    src, dst = item, os.path.basename(item)
                sets.append((knob, key, '%s:%s' % (xenguest_image_local_path(d, src), dst)))
        elif unit == 'items':
            sets += [(knob, key, v) for v in value.split()]
        elif unit == 'assignments':
            for item in value.split():
                item_key, sep, item_value = item.partition('=')
                if not sep or not item_key:
                    xenguest_image_fail(d, knob, value, "holds '%s', which is not KEY=VALUE" % item,
                                        "use e.g. guest.type=pvh (a TOML key of xenguest-mkimage build)")
                sets.append((knob, item_key, item_value))
        else:
            bb.fatal("_XENGUEST_IMAGE_KNOB_TABLE: %s has unit '%s' - use value, deploy-file, deploy-files, src-files, src-pairs, items, disk or assignments" % (knob, unit))
    if has_disk:
        for dst in sorted(disk_files or {}):
            sets.append(('XENGUEST_IMAGE_DISK_PARTITIONS', 'disk.files', '%s:%s' % (disk_files[dst], dst)))
    return sets

def xenguest_image_epoch(d):
    value = (d.getVar('XENGUEST_IMAGE_SOURCE_DATE_EPOCH') or '').strip()
    if not value.isdigit():
        xenguest_image_fail(d, 'XENGUEST_IMAGE_SOURCE_DATE_EPOCH', value, "is not a number of seconds",
                            "leave it to SOURCE_DATE_EPOCH or set e.g. 1520598896")
    return value

def xenguest_image_spec_args(d, spec, sets):
    """`build` arguments that describe the guest: the TOML (or none), the
    --set values and the --defines."""
    argv = [spec] if spec else []
    for _, key, value in sets:
        argv.append('--set=%s=%s' % (key, value))
    for name in (d.getVar('XENGUEST_IMAGE_DEFINES') or '').split():
        argv += ['--define', '%s=%s' % (name, d.getVar(name) or '')]
    return argv

def xenguest_image_argv(d, args, output, epoch=None):
    """Command line of the one `xenguest-mkimage build` run (args: from
    xenguest_image_spec_args; epoch: the --source-date-epoch value, default
    the checked knob)."""
    import shlex
    # --force: the output is the task's own (build refuses to replace a file
    # without it).
    argv = ['xenguest-mkimage', 'build'] + args + ['-o', output, '--force',
            '--source-date-epoch', xenguest_image_epoch(d) if epoch is None else epoch]
    argv += xenguest_image_sign_args(d)
    try:
        argv += shlex.split(d.getVar('XENGUEST_IMAGE_EXTRA_CMD') or '')
    except ValueError as e:
        xenguest_image_fail(d, 'XENGUEST_IMAGE_EXTRA_CMD', d.getVar('XENGUEST_IMAGE_EXTRA_CMD'),
                            "is not a list of shell words (%s)" % e, "close the quotes, e.g. --compress gzip")
    return argv

def xenguest_image_file_checksums(d):
    """[file-checksums] entries, computed at parse time without reading any
    TOML: the TOML of XENGUEST_IMAGE_CONFIG (found through FILESPATH), and
    the local files that src-files/src-pairs knobs name outside the unpack
    directory (absolute paths; for images, FILESPATH lookups). Files a TOML
    names are checked at task time instead (xenguest_image_check_inputs):
    each must come from SRC_URI (do_fetch checksums it), from TMPDIR (the
    output of a task this one depends on) or be listed here."""
    import os
    entries = []
    config = (d.getVar('XENGUEST_IMAGE_CONFIG') or '').strip()
    if config:
        spec = bb.utils.which(d.getVar('FILESPATH') or '', config)
        if spec:
            entries.append(spec)
    else:
        tmpdir = d.getVar('TMPDIR') or '/nonexistent'
        names = []
        for knob, _, unit in xenguest_image_knob_table(d):
            if unit == 'src-files':
                names += xenguest_image_knob(d, knob).split()
            elif unit == 'src-pairs' or knob == 'XENGUEST_EXTRA_DISK_FILES':
                for item in xenguest_image_knob(d, knob).split():
                    src, sep, _ = item.rpartition(':')
                    names.append(src if sep else item)
        for name in names:
            if not os.path.isabs(name) and d.getVar('_XENGUEST_IMAGE_LOCAL_FROM_FILESPATH') != '1':
                continue  # from SRC_URI: do_fetch checksums it
            path = xenguest_image_local_path(d, name)
            if os.path.isabs(path) and not path.startswith(tmpdir + '/') and os.path.isfile(path):
                entries.append(path)
    seen = []
    for path in entries:
        if path not in seen:
            seen.append(path)
    return ' '.join('%s:True' % p for p in seen)

def xenguest_image_tool(d, argv, sets):
    """Run the tool; a failure stops the task with the tool's message,
    naming the knob whose --set the tool refused. Returns its output."""
    import shlex
    import subprocess
    bb.note('Running: %s' % ' '.join(shlex.quote(a) for a in argv))
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        message = result.stderr.strip()
        # The last --set of a key is the one the tool used.
        for knob, key, value in reversed(sets):
            if '`--set %s`' % key in message:
                bb.fatal("%s '%s' is refused by xenguest-mkimage (as %s) - %s" % (knob, xenguest_image_knob(d, knob), key, message))
        bb.fatal('xenguest-mkimage build failed for %s (exit %d):\n%s' % (d.getVar('PN'), result.returncode, message))
    if result.stderr:
        bb.note(result.stderr)
    return result.stdout

def xenguest_image_check_inputs(d, args, sets, task):
    """Check the whole description (the tool builds it in memory and writes
    nothing) and that every input file it reads is tracked by the task's
    signature: from SRC_URI (the unpack directory; do_fetch checksums it),
    from TMPDIR or DEPLOY_DIR (another task's output, e.g. DEPLOY_DIR_IMAGE;
    covered by the task dependencies) or in the task's [file-checksums]."""
    import os
    out = xenguest_image_tool(d, ['xenguest-mkimage', 'build'] + args + ['--print-inputs'], sets)
    # DEPLOY_DIR may be set outside TMPDIR; what is there is still the
    # output of a task.
    roots = [os.path.realpath(d.getVar(v)) + '/' for v in ('_XENGUEST_IMAGE_SRCDIR', 'TMPDIR', 'DEPLOY_DIR') if d.getVar(v)]
    tracked = set()
    for entry in (d.getVarFlag(task, 'file-checksums') or '').split():
        tracked.add(os.path.realpath(entry.rsplit(':', 1)[0]))
    for line in out.splitlines():
        path = os.path.realpath(line)
        if path in tracked or any(path.startswith(root) for root in roots):
            continue
        bb.fatal("%s reads %s, which BitBake does not track (not from SRC_URI, not built by a task) - "
                 "add it to SRC_URI as file://%s, or let a recipe deploy it" % (
                     d.getVar('XENGUEST_IMAGE_CONFIG') or 'the guest description', line, os.path.basename(line)))

def xenguest_image_build(d, spec, output):
    """Check the description and its inputs, then build the image (guest
    recipes: spec is the TOML, or '' for the knobs)."""
    sets = [] if spec else xenguest_image_sets(d)
    args = xenguest_image_spec_args(d, spec, sets)
    xenguest_image_check_inputs(d, args, sets, 'do_deploy')
    out = xenguest_image_tool(d, xenguest_image_argv(d, args, output), sets)
    if out:
        bb.note(out)
