# SPDX-License-Identifier: MIT
"""oelint-adv over every recipe, include file and class of the layer."""

import glob
import json
import os
import re
import subprocess
import sys

import bbharness as h

# Names oelint cannot know; the knobs (every `??=` of the classes) are added
# from the classes themselves, so no list of knobs is kept here.
CONSTANTS = os.path.join(h.HERE, "oelint-constants.json")

# oelint.vars.homepageping resolves HOMEPAGE over the network: the tests run
# offline and the project's home is still the placeholder of Cargo.toml.
SUPPRESS = ["oelint.vars.homepageping"]


def constants(tmp_path):
    with open(CONSTANTS) as f:
        data = json.load(f)
    for path in glob.glob(os.path.join(h.REPO, "classes", "*.bbclass")):
        with open(path) as f:
            data["variables"]["known"] += re.findall(r"^([A-Z_][A-Z0-9_]*) \?\?=", f.read(), re.M)
    out = tmp_path / "oelint-constants.json"
    out.write_text(json.dumps(data))
    return str(out)


def test_oelint_clean(tmp_path):
    files = sorted(
        glob.glob(os.path.join(h.LAYER, "recipes-*", "*", "*.bb"))
        + glob.glob(os.path.join(h.LAYER, "recipes-*", "*", "*.bbappend"))
        + glob.glob(os.path.join(h.LAYER, "recipes-*", "*", "*.inc"))
        + glob.glob(os.path.join(h.REPO, "classes", "*.bbclass"))
    )
    assert len(files) >= 8
    cmd = [sys.executable, "-m", "oelint_adv", "--quiet", "--mode", "all", "--jobs", "2",
           "--constantmods", "+" + constants(tmp_path)]
    for rule in SUPPRESS:
        cmd += ["--suppress", rule]
    result = subprocess.run(cmd + ["--"] + files, capture_output=True, text=True)
    findings = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and findings == "", findings
