# SPDX-License-Identifier: MIT
#
# xenguest_guests.bbclass - package built xenguest images for a Xen host
# (Dom0): each guest NAME is installed as ${datadir}/guests/NAME.xenguest,
# where the host's guest manager picks it up. Put the recipe inheriting this
# class into the host image (IMAGE_INSTALL += "xenguest-guests").
#
# Usage (in a recipe, or in local.conf for xenguest-guests_1.0.bb):
#
#     XENGUEST_GUESTS = "web1 web2 db tiny"
#     # from a recipe inheriting xenguest_image, same configuration:
#     XENGUEST_GUEST_RECIPE[web1] = "xenguest-example-disk"
#     XENGUEST_GUEST_RECIPE[web2] = "xenguest-example-disk"   # a second copy
#     # from an image with IMAGE_FSTYPES += "xenguest", same configuration:
#     XENGUEST_GUEST_IMAGE[db] = "core-image-minimal"
#     # from an image built in another multiconfig (BBMULTICONFIG):
#     XENGUEST_GUEST_IMAGE[tiny] = "core-image-minimal"
#     XENGUEST_GUEST_MULTICONFIG[tiny] = "guest"
#     XENGUEST_GUEST_FILE[tiny] = "${TOPDIR}/tmp-guest/deploy/images/guestmachine/core-image-minimal-guestmachine.rootfs.xenguest"
#     # a fetched file: add it to SRC_URI and name it (relative: unpack directory)
#     SRC_URI += "https://example.com/fw.xenguest;name=fw"
#     XENGUEST_GUEST_FILE[fw] = "fw.xenguest"
#     # several copies of one guest: fw.xenguest, fw2.xenguest, fw3.xenguest
#     XENGUEST_GUEST_COPIES[fw] = "3"
#
# Every installed file name must be unique: a guest named like a copy of
# another (fw2 beside XENGUEST_GUEST_COPIES[fw] = "2"), or a name listed
# twice, is a configuration error.
#
# Each guest takes its file from exactly one of: XENGUEST_GUEST_FILE[NAME]
# (absolute, or relative to the unpack directory; it also overrides the
# default path of a recipe or image), XENGUEST_GUEST_RECIPE[NAME] (default
# ${DEPLOY_DIR_IMAGE}/PN-${MACHINE}.xenguest, the link that xenguest_image
# deploys) or XENGUEST_GUEST_IMAGE[NAME] (default
# ${DEPLOY_DIR_IMAGE}/IMAGE${IMAGE_MACHINE_SUFFIX}${IMAGE_NAME_SUFFIX}.xenguest,
# the image's IMAGE_LINK_NAME). A multiconfig guest needs XENGUEST_GUEST_FILE
# because the other configuration's deploy directory is not known here.
# When a .sha256 sidecar lies beside a guest file, do_install checks it.

inherit image-artifact-names xenguest_migration

# Guests to install (space-separated names; each becomes ${XENGUEST_GUESTS_DIR}/NAME.xenguest)
XENGUEST_GUESTS ??= ""
# Directory of installed guests on the host (a path)
XENGUEST_GUESTS_DIR ??= "${datadir}/guests"

# Fetched guests are unpacked straight into the unpack directory: S points
# there, as in OE-core's recipes of local files (else do_qa_unpack warns that
# S does not exist). UNPACKDIR on styhead and later, WORKDIR on scarthgap.
S = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}"

INHIBIT_DEFAULT_DEPS = "1"
PACKAGE_ARCH = "${MACHINE_ARCH}"
FILES:${PN} += "${XENGUEST_GUESTS_DIR}"

do_configure[noexec] = "1"
do_compile[noexec] = "1"

def xenguest_guests_parse(d):
    """([(name, copies, path, depends, mcdepends)], [configuration errors])
    from XENGUEST_GUESTS and the XENGUEST_GUEST_* flags."""
    import os
    result, errors = [], []
    for name in (d.getVar('XENGUEST_GUESTS') or '').split():
        flags = {key: (d.getVarFlag(key, name) or '').strip() for key in
                 ('XENGUEST_GUEST_RECIPE', 'XENGUEST_GUEST_IMAGE', 'XENGUEST_GUEST_MULTICONFIG',
                  'XENGUEST_GUEST_FILE', 'XENGUEST_GUEST_COPIES')}
        recipe, image, mc, path = (flags['XENGUEST_GUEST_RECIPE'], flags['XENGUEST_GUEST_IMAGE'],
                                   flags['XENGUEST_GUEST_MULTICONFIG'], flags['XENGUEST_GUEST_FILE'])
        copies = flags['XENGUEST_GUEST_COPIES'] or '1'
        if not copies.isdigit() or int(copies) < 1:
            errors.append("XENGUEST_GUEST_COPIES[%s] '%s' is not a positive count - use e.g. 2" % (name, copies))
            continue
        if recipe and image:
            errors.append("XENGUEST_GUEST_RECIPE[%s] '%s' and XENGUEST_GUEST_IMAGE[%s] '%s' are both set - keep one" % (name, recipe, name, image))
            continue
        if mc and not image:
            errors.append("XENGUEST_GUEST_MULTICONFIG[%s] '%s' needs XENGUEST_GUEST_IMAGE[%s] - set the image built in that multiconfig" % (name, mc, name))
            continue
        if mc and not path:
            errors.append("XENGUEST_GUEST_MULTICONFIG[%s] '%s' needs XENGUEST_GUEST_FILE[%s] - set the path of the image in that multiconfig's DEPLOY_DIR_IMAGE" % (name, mc, name))
            continue
        depends = mcdepends = ''
        if recipe:
            depends = '%s:do_deploy' % recipe
            path = path or '%s/%s-%s.xenguest' % (d.getVar('DEPLOY_DIR_IMAGE'), recipe, d.getVar('MACHINE'))
        elif image and mc:
            mcdepends = 'mc:%s:%s:%s:do_image_complete' % (d.getVar('BB_CURRENT_MC') or '', mc, image)
        elif image:
            depends = '%s:do_image_complete' % image
            path = path or '%s/%s%s%s.xenguest' % (d.getVar('DEPLOY_DIR_IMAGE'), image,
                                                   d.getVar('IMAGE_MACHINE_SUFFIX') or '', d.getVar('IMAGE_NAME_SUFFIX') or '')
        elif not path:
            errors.append("XENGUEST_GUESTS names '%s' but none of XENGUEST_GUEST_RECIPE[%s], XENGUEST_GUEST_IMAGE[%s], XENGUEST_GUEST_FILE[%s] is set - set one" % (name, name, name, name))
            continue
        if not os.path.isabs(path):
            path = os.path.join(d.getVar('S'), path)
        result.append((name, int(copies), path, depends, mcdepends))
    errors += xenguest_guests_collisions(d)
    return result, errors

def xenguest_guests_installed_names(name, copies):
    """File names a guest is installed under: NAME.xenguest, then the
    copies NAME2.xenguest .. NAMEn.xenguest (the old layer's guestcount)."""
    return [name + '.xenguest'] + ['%s%d.xenguest' % (name, i) for i in range(2, copies + 1)]

def xenguest_guests_collisions(d):
    """Two guests, or a guest and a copy of another, that would be
    installed under one file name (e.g. guest web2 and the second copy of
    web): one would silently replace the other."""
    owner, errors = {}, []
    for name in (d.getVar('XENGUEST_GUESTS') or '').split():
        copies = (d.getVarFlag('XENGUEST_GUEST_COPIES', name) or '').strip() or '1'
        if not copies.isdigit() or int(copies) < 1:
            continue  # reported by xenguest_guests_parse
        for i, fname in enumerate(xenguest_guests_installed_names(name, int(copies)), 1):
            what = "guest '%s'" % name if i == 1 else "copy %d of guest '%s' (XENGUEST_GUEST_COPIES[%s] = \"%s\")" % (i, name, name, copies)
            if fname in owner:
                errors.append("XENGUEST_GUESTS: %s and %s would both be installed as %s - rename one guest or lower its XENGUEST_GUEST_COPIES"
                              % (owner[fname], what, fname))
            else:
                owner[fname] = what
    return errors

def xenguest_guests_sources(d):
    return xenguest_guests_parse(d)[0]

# A configuration mismatch skips the recipe (with the reason) instead of
# failing every parse: only an image that installs it reports the error.
# nooelint: oelint.task.noanonpython - SkipRecipe can only be raised at parse time
python __anonymous() {
    errors = xenguest_guests_parse(d)[1]
    if errors:
        raise bb.parse.SkipRecipe(errors[0])
}

def xenguest_guests_depends(d, index):
    """Task dependencies (index 3) or multiconfig dependencies (index 4) of the guests."""
    return ' '.join(src[index] for src in xenguest_guests_sources(d) if src[index])

do_install[depends] += "${@xenguest_guests_depends(d, 3)}"
do_install[mcdepends] += "${@xenguest_guests_depends(d, 4)}"

python do_install() {
    import hashlib
    import os
    import shutil

    dest = d.getVar('D') + d.getVar('XENGUEST_GUESTS_DIR')
    bb.utils.mkdirhier(dest)
    for name, copies, path, _, _ in xenguest_guests_sources(d):
        if not os.path.isfile(path):
            bb.fatal("guest '%s': %s does not exist - check XENGUEST_GUEST_*[%s] and that the guest was built" % (name, path, name))
        sidecar = path + '.sha256'
        if os.path.isfile(sidecar):
            with open(sidecar) as f:
                expected = f.read().split()[0]
            h = hashlib.sha256()
            with open(path, 'rb') as f:
                for block in iter(lambda: f.read(1 << 20), b''):
                    h.update(block)
            if h.hexdigest() != expected:
                bb.fatal("guest '%s': %s does not match its checksum %s - rebuild the guest" % (name, path, sidecar))
        # Further copies are links named NAME2 .. NAMEn, as the old layer's
        # guestcount made them: the guest manager starts one guest per name.
        # (xenguest_guests_collisions refused names that would clash.)
        first, *links = xenguest_guests_installed_names(name, copies)
        out = os.path.join(dest, first)
        shutil.copyfile(path, out)
        os.chmod(out, 0o644)
        for fname in links:
            os.symlink(first, os.path.join(dest, fname))
}

# The per-guest settings are varflags, which task signatures do not see:
# their unexpanded values are summed up in one variable whose value counts.
def xenguest_guests_signature(d):
    items = []
    for name in (d.getVar('XENGUEST_GUESTS') or '').split():
        for key in ('XENGUEST_GUEST_RECIPE', 'XENGUEST_GUEST_IMAGE', 'XENGUEST_GUEST_MULTICONFIG',
                    'XENGUEST_GUEST_FILE', 'XENGUEST_GUEST_COPIES'):
            items.append('%s[%s]=%s' % (key, name, d.getVarFlag(key, name, False) or ''))
    return ' '.join(items)

_XENGUEST_GUESTS_SETTINGS = "${@xenguest_guests_signature(d)}"
_XENGUEST_GUESTS_SETTINGS[vardepvalue] = "${_XENGUEST_GUESTS_SETTINGS}"

do_install[vardeps] += "XENGUEST_GUESTS XENGUEST_GUESTS_DIR _XENGUEST_GUESTS_SETTINGS"
do_install[cleandirs] = "${D}"
