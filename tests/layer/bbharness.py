# SPDX-License-Identifier: MIT
"""Run BitBake's own parser and task executor in this process.

BitBake's `bb` library comes from PyPI's bitbake-setup wheel. The wheel does
not ship the `hashserv` package that `bb.siggen` imports at load time, so an
empty stand-in is put on sys.path first (parsing and running tasks never call
it). Everything else is BitBake's real code: the configuration parser, the
recipe parser with its anonymous functions, BBCLASSEXTEND variants, event
handlers, the fetcher for file:// URLs, and bb.build.exec_func running shell
and Python tasks with their [dirs], [cleandirs], prefuncs and postfuncs.

The configuration is tests/layer/fixture/conf/bitbake.conf plus stand-ins for
the OE-core classes the layer inherits (tests/layer/fixture/classes); the
layer's own classes are the real ones in the repository's classes/.
"""

import contextlib
import logging
import os
import re
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
LAYER = os.path.join(REPO, "meta-xenguest-rs")
FIXTURE = os.path.join(HERE, "fixture")


def _install_hashserv_stub():
    if "hashserv" in sys.modules:
        return
    pkg = types.ModuleType("hashserv")
    pkg.__path__ = []
    client = types.ModuleType("hashserv.client")
    pkg.client = client
    sys.modules["hashserv"] = pkg
    sys.modules["hashserv.client"] = client


_install_hashserv_stub()

import bb  # noqa: E402
import bb.build  # noqa: E402
import bb.data  # noqa: E402
import bb.fetch2  # noqa: E402
import bb.parse  # noqa: E402
import bb.process  # noqa: E402
import bb.parse.parse_py.BBHandler  # noqa: E402
import bb.siggen  # noqa: E402
import bb.utils  # noqa: E402


class LogCapture(logging.Handler):
    """Collects BitBake's log records (bb.note, bb.error, bb.fatal...)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def text(self):
        return "\n".join(r.getMessage() for r in self.records)


class BitBake:
    """A parsed base configuration from which recipes are parsed and run."""

    def __init__(self, topdir, tooldir, layers=(LAYER,)):
        self.topdir = topdir
        self.log = LogCapture()
        logger = logging.getLogger("BitBake")
        logger.addHandler(self.log)
        logger.setLevel(logging.DEBUG)

        d = bb.data.init()
        bb.parse.siggen = bb.siggen.init(d)
        d.setVar("TOPDIR", topdir)
        d.setVar("XENGUEST_TEST_TOOLDIR", tooldir)
        # Fixture first, then what the layers' conf/layer.conf add.
        d.setVar("BBPATH", FIXTURE)
        d.setVar("LAYERDIR", None)
        for layer in layers:
            d.setVar("LAYERDIR", layer)
            d.setVar("LAYERDIR_RE", re.escape(layer))
            bb.parse.handle(os.path.join(layer, "conf", "layer.conf"), d, True)
            # As BitBake's cooker does: freeze ${LAYERDIR} in what layer.conf set.
            d.expandVarref("LAYERDIR")
            d.expandVarref("LAYERDIR_RE")
            d.delVar("LAYERDIR")
            d.delVar("LAYERDIR_RE")
        bb.parse.handle(os.path.join("conf", "bitbake.conf"), d, False)
        d.setVar("__bbclasstype", "global")
        bb.parse.BBHandler.inherit("base", "configuration INHERITs", 0, d)
        d.setVar("__bbclasstype", "recipe")
        self.d = d

    def close(self):
        logging.getLogger("BitBake").removeHandler(self.log)

    def parse(self, path, variant=""):
        """Parse a recipe; return the datastore of one variant ("" = plain)."""
        return self.parse_all(path)[variant]

    def parse_all(self, path):
        return bb.parse.handle(path, bb.data.createCopy(self.d))

    @contextlib.contextmanager
    def worker_env(self, d):
        """The process environment bitbake-worker gives a task: only the
        exported variables (PATH with the native bindir first, ...)."""
        saved = dict(os.environ)
        try:
            os.environ.clear()
            for key, value in bb.data.exported_vars(d):
                if value is not None:
                    os.environ[key] = value
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def run(self, d, task):
        """Run one task as bitbake-worker's task runner (bb.build._exec_task)
        does at its core: the [prefuncs], the task, the [postfuncs], each
        through bb.build.exec_func (which honours [dirs] and [cleandirs]
        and logs to ${T}), in the process environment the worker sets up.
        The caller provides the task's dependencies. Raises TaskFailed."""
        d = bb.data.createCopy(d)
        d.setVar("BB_CURRENTTASK", task[3:] if task.startswith("do_") else task)
        d.setVar("BB_RUNTASK", task)
        bb.utils.mkdirhier(d.getVar("T"))
        prefuncs = (d.getVarFlag(task, "prefuncs", expand=True) or "").split()
        postfuncs = (d.getVarFlag(task, "postfuncs", expand=True) or "").split()
        with self.worker_env(d):
            try:
                for func in prefuncs:
                    bb.build.exec_func(func, d)
                bb.build.exec_func(task, d)
                for func in postfuncs:
                    bb.build.exec_func(func, d)
            except (bb.BBHandledException, bb.process.ExecutionError) as e:
                raise TaskFailed("%s failed: %s\n%s" % (task, e, self.log.text())) from e
        return d


class TaskFailed(Exception):
    pass


def recipe(*parts):
    """Path of a recipe of the layer (meta-xenguest-rs/...)."""
    return os.path.join(LAYER, *parts)


def fixture_recipe(name):
    return os.path.join(FIXTURE, "recipes", name)


def task_signatures(d):
    """Per-task variable dependencies and base hashes, computed by BitBake's
    own signature code (bb.data.generate_dependencies / _hash), with the
    configuration's BB_BASEHASH_IGNORE_VARS as OE-core's siggen uses them."""
    ignored = set((d.getVar("BB_BASEHASH_IGNORE_VARS") or "").split())
    tasklist, gendeps, lookupcache = bb.data.generate_dependencies(d, ignored)
    taskdeps, basehash = bb.data.generate_dependency_hash(tasklist, gendeps, lookupcache, ignored, "recipe")
    return taskdeps, {k.split(":", 1)[1]: v for k, v in basehash.items()}


def image_members(path):
    """{member name: TarInfo} of a xenguest image (an uncompressed tar)."""
    import tarfile

    with tarfile.open(path, "r:") as tar:
        return {m.name: m for m in tar.getmembers()}


def image_file(path, member):
    """Text of one member of a xenguest image."""
    import tarfile

    with tarfile.open(path, "r:") as tar:
        return tar.extractfile(member).read().decode()


def tool_run(tool, *args):
    """Run the real tool; return stdout (fails the test on a non-zero exit)."""
    import subprocess

    result = subprocess.run([tool, *args], capture_output=True, text=True)
    assert result.returncode == 0, "%s %s: %s" % (tool, " ".join(args), result.stderr)
    return result.stdout
