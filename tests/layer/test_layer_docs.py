# SPDX-License-Identifier: MIT
"""The documentation rules of yocto-check-layer (README: maintainer, how to
send patches, a contact address; SECURITY: how to report, a contact)."""

import glob
import os
import re

import bbharness as h

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]+")


def _read(pattern):
    files = sorted(glob.glob(os.path.join(h.LAYER, pattern)))
    assert files, pattern
    with open(files[0]) as f:
        return f.read()


def test_readme():
    text = _read("[Rr][Ee][Aa][Dd][Mm][Ee]*")
    assert "maintainer" in text.lower()
    assert "patch" in text.lower()
    assert EMAIL.search(text)
    for needle in ("IMAGE_FSTYPES += \"xenguest\"", "BBMULTICONFIG", "bblayers.conf", "meta-arm-autonomy"):
        assert needle in text, needle


def test_security():
    text = _read("[Ss][Ee][Cc][Uu][Rr][Ii][Tt][Yy]*")
    assert "security" in text.lower()
    assert EMAIL.search(text)
