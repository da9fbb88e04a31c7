# SPDX-License-Identifier: MIT
"""oelint-adv over every recipe, include file and class of the layer."""

import glob
import os
import subprocess
import sys

import bbharness as h

CONSTANTS = os.path.join(h.HERE, "oelint-constants.json")

# oelint.vars.homepageping resolves HOMEPAGE over the network: the tests run
# offline and the project's home is still the placeholder of Cargo.toml.
SUPPRESS = ["oelint.vars.homepageping"]


def test_oelint_clean():
    files = sorted(
        glob.glob(os.path.join(h.LAYER, "recipes-*", "*", "*.bb"))
        + glob.glob(os.path.join(h.LAYER, "recipes-*", "*", "*.bbappend"))
        + glob.glob(os.path.join(h.LAYER, "recipes-*", "*", "*.inc"))
        + glob.glob(os.path.join(h.REPO, "classes", "*.bbclass"))
    )
    assert len(files) >= 8
    cmd = [sys.executable, "-m", "oelint_adv", "--quiet", "--mode", "all", "--jobs", "2",
           "--constantmods", "+" + CONSTANTS]
    for rule in SUPPRESS:
        cmd += ["--suppress", rule]
    result = subprocess.run(cmd + ["--"] + files, capture_output=True, text=True)
    findings = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and findings == "", findings
