# SPDX-License-Identifier: MIT
#
# xenguest_common.bbclass - shared part of xenguest_image.bbclass (guest
# recipes) and image_types_xenguest.bbclass (IMAGE_FSTYPES += "xenguest").
# Do not inherit it directly.
#
# It declares the XENGUEST_* knobs (names kept from the retired
# meta-arm-autonomy layer) and the helpers that translate them into the TOML
# guest specification read by `xenguest-mkimage build`. The class only
# translates: every rule about what makes a valid guest (sizes that fit,
# file system names, partition content names, safe destinations, values that
# the host sources as shell) lives in the tool. The class checks only what it
# needs to translate (numbers are numbers, sizes look like sizes, the files a
# knob names exist) so that the error names the knob.
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
# Guest network set up by the host (a keyword: bridge, nat or none)
XENGUEST_IMAGE_NETWORK_TYPE ??= "bridge"
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
# Files stored under files/ (space-separated SRC[:DST]; DST defaults to the basename of SRC)
XENGUEST_EXTRA_FILES ??= ""
# Files stored under disk/, used as partition content (space-separated SRC[:DST])
XENGUEST_EXTRA_DISK_FILES ??= ""
# BitBake variables handed to the tool as --define NAME=VALUE (space-separated names)
XENGUEST_IMAGE_DEFINES ??= "DEPLOY_DIR_IMAGE MACHINE"
# Modification time of the image members (seconds since the Epoch)
XENGUEST_IMAGE_SOURCE_DATE_EPOCH ??= "${SOURCE_DATE_EPOCH}"

# Every knob above: the tasks that build an image depend on all of them.
_XENGUEST_IMAGE_KNOBS = "\
    XENGUEST_IMAGE_CONFIG XENGUEST_IMAGE_MEMORY_SIZE XENGUEST_IMAGE_NUM_VCPUS \
    XENGUEST_IMAGE_AUTOBOOT XENGUEST_IMAGE_ROOT XENGUEST_IMAGE_CMDLINE \
    XENGUEST_IMAGE_EXTRA_CMD XENGUEST_IMAGE_KERNEL XENGUEST_IMAGE_DISK_SIZE \
    XENGUEST_IMAGE_DISK_DEVICE XENGUEST_IMAGE_DISK_PARTITIONS \
    XENGUEST_IMAGE_NETWORK_TYPE XENGUEST_EXTRA_DTB XENGUEST_EXTRA_RAMDISK \
    XENGUEST_EXTRA_XENCONFIG XENGUEST_EXTRA_INIT_PRE XENGUEST_EXTRA_INIT \
    XENGUEST_EXTRA_INIT_POST XENGUEST_EXTRA_FILES XENGUEST_EXTRA_DISK_FILES \
    XENGUEST_IMAGE_DEFINES XENGUEST_IMAGE_SOURCE_DATE_EPOCH \
    ${XENGUEST_IMAGE_DEFINES} \
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
# Directory for the generated specification.
_XENGUEST_IMAGE_WORKDIR = "${WORKDIR}/xenguest-image"

def xenguest_image_fail(d, var, value, problem, fix):
    """Stop the task with a message naming the knob, its value and the fix."""
    bb.fatal("%s '%s' %s - %s" % (var, value, problem, fix))

def xenguest_image_toml_string(value):
    """Quote value as a TOML basic string. The tool reads ${NAME} in any
    string as a --define reference and $${ as a literal ${, so a literal
    ${ in a BitBake value is written as $${."""
    value = value.replace('${', '$${')
    out = ['"']
    for ch in value:
        if ch == '"':
            out.append('\\"')
        elif ch == '\\':
            out.append('\\\\')
        elif ch == '\n':
            out.append('\\n')
        elif ch == '\t':
            out.append('\\t')
        elif ord(ch) < 0x20 or ord(ch) == 0x7f:
            out.append('\\u%04x' % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return ''.join(out)

def xenguest_image_toml_list(values):
    return '[' + ', '.join(xenguest_image_toml_string(v) for v in values) + ']'

def xenguest_image_knob(d, var):
    """Value of a knob, stripped."""
    return (d.getVar(var) or '').strip()

def xenguest_image_int(d, var):
    value = xenguest_image_knob(d, var)
    if not value.isdigit() or int(value) == 0:
        xenguest_image_fail(d, var, value, "is not a positive integer", "use e.g. %s" % ('512' if 'MEMORY' in var else '1'))
    return int(value)

def xenguest_image_size(d, var, value):
    import re
    if not re.fullmatch(r'[0-9]+[MG]?', value):
        xenguest_image_fail(d, var, value, "is not a size", "use e.g. 4G (N or NG in GB, NM in MB)")
    return value

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

def xenguest_image_path(d, var, value, basedir_var):
    """Absolute path of a file named by knob var (relative names live in basedir_var)."""
    import os
    if basedir_var == '_XENGUEST_IMAGE_SRCDIR':
        path = xenguest_image_local_path(d, value)
    else:
        path = value if os.path.isabs(value) else os.path.join(d.getVar(basedir_var), value)
    if not os.path.isfile(path):
        xenguest_image_fail(d, var, value, "names no file (looked for %s)" % path,
                            "check that the recipe providing it ran (DEPLOY_DIR_IMAGE) or that it is in SRC_URI (unpack directory)")
    return path

def xenguest_image_pairs(d, var, basedir_var):
    """Parse a SRC[:DST] list into [(dst, absolute src)]."""
    import os
    pairs = []
    for item in xenguest_image_knob(d, var).split():
        src, sep, dst = item.rpartition(':')
        if not sep:
            src, dst = item, os.path.basename(item)
        if not src or not dst:
            xenguest_image_fail(d, var, item, "is not SRC[:DST]", "use e.g. kea.json:net/kea.json")
        pairs.append((dst, xenguest_image_path(d, var, src, basedir_var)))
    return pairs

def xenguest_image_partitions(d):
    """Parse XENGUEST_IMAGE_DISK_PARTITIONS into [(num, size, fs, content)]."""
    var = 'XENGUEST_IMAGE_DISK_PARTITIONS'
    parts = []
    for item in xenguest_image_knob(d, var).split():
        fields = item.split(':')
        if len(fields) != 4:
            xenguest_image_fail(d, var, item, "is not num:size:fs:file", "use e.g. 1:4G:ext4:rootfs.tar.gz (fs and file may be empty)")
        num, size, fs, content = fields
        if not num.isdigit():
            xenguest_image_fail(d, var, item, "does not start with a partition number", "use e.g. 1:4G:ext4:rootfs.tar.gz")
        xenguest_image_size(d, var, size)
        parts.append((int(num), size, fs, content))
    return parts

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

def xenguest_image_spec_from_vars(d, kernel=True, disk_files=None):
    """Translate the knobs into the text of a TOML guest specification.

    kernel: whether XENGUEST_IMAGE_KERNEL is used; disk_files: extra
    {destination: absolute path} entries for disk/ (the image's rootfs).
    """
    lines = ['# Generated by xenguest_common.bbclass for %s from its XENGUEST_* variables.' % d.getVar('PN'), '']
    q = xenguest_image_toml_string

    lines.append('[guest]')
    lines.append('memory = %d' % xenguest_image_int(d, 'XENGUEST_IMAGE_MEMORY_SIZE'))
    lines.append('vcpus = %d' % xenguest_image_int(d, 'XENGUEST_IMAGE_NUM_VCPUS'))
    autoboot = xenguest_image_knob(d, 'XENGUEST_IMAGE_AUTOBOOT')
    if autoboot not in ('0', '1'):
        xenguest_image_fail(d, 'XENGUEST_IMAGE_AUTOBOOT', autoboot, "is not 0 or 1", "use 1 to start the guest when the host boots, 0 not to")
    lines.append('autoboot = %s' % ('true' if autoboot == '1' else 'false'))
    root = xenguest_image_knob(d, 'XENGUEST_IMAGE_ROOT')
    if root:
        lines.append('root = %s' % q(root))
    cmdline = ' '.join(xenguest_image_knob(d, 'XENGUEST_IMAGE_CMDLINE').split())
    if cmdline:
        lines.append('cmdline = %s' % q(cmdline))
    kernel_name = xenguest_image_knob(d, 'XENGUEST_IMAGE_KERNEL')
    if kernel and kernel_name:
        lines.append('kernel = %s' % q(xenguest_image_path(d, 'XENGUEST_IMAGE_KERNEL', kernel_name, 'DEPLOY_DIR_IMAGE')))
    dtb = xenguest_image_knob(d, 'XENGUEST_EXTRA_DTB')
    if dtb:
        lines.append('device_tree = %s' % q(xenguest_image_path(d, 'XENGUEST_EXTRA_DTB', dtb, 'DEPLOY_DIR_IMAGE')))
    ramdisk = xenguest_image_knob(d, 'XENGUEST_EXTRA_RAMDISK')
    if ramdisk:
        lines.append('ramdisk = %s' % q(xenguest_image_path(d, 'XENGUEST_EXTRA_RAMDISK', ramdisk, 'DEPLOY_DIR_IMAGE')))

    network = xenguest_image_knob(d, 'XENGUEST_IMAGE_NETWORK_TYPE') or 'none'
    if network not in ('bridge', 'nat', 'none'):
        xenguest_image_fail(d, 'XENGUEST_IMAGE_NETWORK_TYPE', network, "is not a network type", "use bridge, nat or none")
    lines += ['', '[params]', 'XENGUEST_NETWORK_TYPE = %s' % q(network)]

    def files(var):
        return [xenguest_image_path(d, var, f, '_XENGUEST_IMAGE_SRCDIR') for f in xenguest_image_knob(d, var).split()]

    xenconfig = files('XENGUEST_EXTRA_XENCONFIG')
    xenfiles = xenguest_image_pairs(d, 'XENGUEST_EXTRA_FILES', '_XENGUEST_IMAGE_SRCDIR')
    if xenconfig or xenfiles:
        lines += ['', '[xen]']
        if xenconfig:
            lines.append('config = %s' % xenguest_image_toml_list(xenconfig))
        if xenfiles:
            lines += ['', '[xen.files]'] + ['%s = %s' % (q(dst), q(src)) for dst, src in xenfiles]

    init = [(key, files(var)) for key, var in (('pre', 'XENGUEST_EXTRA_INIT_PRE'),
                                                 ('scripts', 'XENGUEST_EXTRA_INIT'),
                                                 ('post', 'XENGUEST_EXTRA_INIT_POST'))]
    if any(scripts for _, scripts in init):
        lines += ['', '[init]'] + ['%s = %s' % (key, xenguest_image_toml_list(s)) for key, s in init if s]

    size = xenguest_image_size(d, 'XENGUEST_IMAGE_DISK_SIZE', xenguest_image_knob(d, 'XENGUEST_IMAGE_DISK_SIZE') or '0')
    # A zero size means no disk: partitions are then ignored, as the old layer did.
    if not xenguest_image_size_is_zero(size):
        lines += ['', '[disk]', 'size = %s' % q(size), 'device = %s' % q(xenguest_image_knob(d, 'XENGUEST_IMAGE_DISK_DEVICE'))]
        dfiles = dict(disk_files or {})
        for dst, src in xenguest_image_pairs(d, 'XENGUEST_EXTRA_DISK_FILES', '_XENGUEST_IMAGE_SRCDIR'):
            dfiles[dst] = src
        if dfiles:
            lines += ['', '[disk.files]'] + ['%s = %s' % (q(dst), q(dfiles[dst])) for dst in sorted(dfiles)]
        for num, psize, fs, content in xenguest_image_partitions(d):
            lines += ['', '[[disk.partitions]]', 'number = %d' % num, 'size = %s' % q(psize),
                      'fs = %s' % q(fs), 'content = %s' % q(content)]
    return '\n'.join(lines) + '\n'

def xenguest_image_write_generated_spec(d, kernel=True, disk_files=None):
    """Write the specification generated from the knobs; return its path."""
    import os
    workdir = d.getVar('_XENGUEST_IMAGE_WORKDIR')
    bb.utils.mkdirhier(workdir)
    path = os.path.join(workdir, 'guest.toml')
    text = xenguest_image_spec_from_vars(d, kernel, disk_files)
    with open(path, 'w') as f:
        f.write(text)
    bb.note('xenguest: generated %s:\n%s' % (path, text))
    return path

def xenguest_image_epoch(d):
    value = (d.getVar('XENGUEST_IMAGE_SOURCE_DATE_EPOCH') or '').strip()
    if not value.isdigit():
        xenguest_image_fail(d, 'XENGUEST_IMAGE_SOURCE_DATE_EPOCH', value, "is not a number of seconds",
                            "leave it to SOURCE_DATE_EPOCH or set e.g. 1520598896")
    return value

def xenguest_image_argv(d, spec, output, epoch=None):
    """Command line of the one `xenguest-mkimage build` run (epoch: the
    --source-date-epoch value; default the checked knob)."""
    import shlex
    argv = ['xenguest-mkimage', 'build', spec, '-o', output,
            '--source-date-epoch', xenguest_image_epoch(d) if epoch is None else epoch]
    for name in (d.getVar('XENGUEST_IMAGE_DEFINES') or '').split():
        argv += ['--define', '%s=%s' % (name, d.getVar(name) or '')]
    argv += xenguest_image_sign_args(d)
    try:
        argv += shlex.split(d.getVar('XENGUEST_IMAGE_EXTRA_CMD') or '')
    except ValueError as e:
        xenguest_image_fail(d, 'XENGUEST_IMAGE_EXTRA_CMD', d.getVar('XENGUEST_IMAGE_EXTRA_CMD'),
                            "is not a list of shell words (%s)" % e, "close the quotes, e.g. --compress gzip")
    return argv

def xenguest_image_file_checksums(d):
    """[file-checksums] entries: the TOML of XENGUEST_IMAGE_CONFIG and the
    local inputs it names (relative paths), found through FILESPATH at parse
    time; or, for a guest described by variables, the local files its knobs
    name outside the unpack directory (absolute paths, or FILESPATH lookups
    for images). Inputs from DEPLOY_DIR_IMAGE (or under a ${NAME} define)
    are outputs of other tasks, covered by the task dependencies instead."""
    import os
    entries = []
    config = (d.getVar('XENGUEST_IMAGE_CONFIG') or '').strip()
    if config:
        spec = bb.utils.which(d.getVar('FILESPATH') or '', config)
        if not spec:
            return ''
        entries.append(spec)
        try:
            import tomllib
            with open(spec, 'rb') as f:
                doc = tomllib.load(f)
        except Exception:
            doc = {}
        if not isinstance(doc, dict):
            doc = {}
        refs = []
        guest = doc.get('guest', {})
        refs += [guest.get(k) for k in ('kernel', 'device_tree', 'ramdisk')]
        xen = doc.get('xen', {})
        refs += list(xen.get('config', []) or []) + list((xen.get('files', {}) or {}).values())
        init = doc.get('init', {})
        for key in ('pre', 'scripts', 'post'):
            refs += list(init.get(key, []) or [])
        refs += list((doc.get('disk', {}).get('files', {}) or {}).values())
        base = os.path.dirname(spec)
        for ref in refs:
            if isinstance(ref, str) and ref and '${' not in ref and not os.path.isabs(ref):
                path = os.path.normpath(os.path.join(base, ref))
                if os.path.isfile(path):
                    entries.append(path)
    else:
        tmpdir = d.getVar('TMPDIR') or '/nonexistent'
        names = []
        for var in ('XENGUEST_EXTRA_XENCONFIG', 'XENGUEST_EXTRA_INIT_PRE', 'XENGUEST_EXTRA_INIT', 'XENGUEST_EXTRA_INIT_POST'):
            names += (d.getVar(var) or '').split()
        for var in ('XENGUEST_EXTRA_FILES', 'XENGUEST_EXTRA_DISK_FILES'):
            for item in (d.getVar(var) or '').split():
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

def xenguest_image_run(d, argv):
    """Run the tool; a failure stops the task with the tool's message."""
    import subprocess
    bb.note('Running: %s' % ' '.join(argv))
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.stdout:
        bb.note(result.stdout)
    if result.returncode != 0:
        bb.fatal('xenguest-mkimage build failed for %s (exit %d):\n%s' % (d.getVar('PN'), result.returncode, result.stdout))
