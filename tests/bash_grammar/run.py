#!/usr/bin/env python3
"""Differential test: `params.cfg` and `disk.cfg` as the tool reads them
and as bash reads them.

The host sources both files with bash as root. `check` accepts a file only
when bash provably performs its assignments and nothing else. This script
generates files (valid assignments and comments; every Unicode whitespace
and control character inserted at every interesting position; CR, NUL,
invalid UTF-8, command substitutions, separators, trailing commands,
multi-line quotes) and, for each one:

- puts it in a directory image and runs `check`;
- refused: the error must name the file and the line;
- accepted: reads the assignments the tool parsed (`dump-paramsconfig
  --json` / `dump-diskconfig --json`, field `assignments`), then sources
  the file with real bash (`env -i bash --norc --noprofile`, `set -u`,
  xtrace to a file through BASH_XTRACEFD, PATH an empty directory and a
  `command_not_found_handle` that records), in the C locale and in a UTF-8
  one, and asserts bash assigned exactly those keys in that order, to
  exactly those values, defined no function, set no other variable, ran
  no command and printed nothing.

Usage: run.py TOOL WORKDIR   (exit 0: every case passed; 1: some failed)
Prints one line per case: `ok   NAME: accepted|refused` or `FAIL NAME: ...`.
"""

import concurrent.futures
import json
import os
import queue
import random
import subprocess
import sys

# Every White_Space character, and every control character (Cc).
WHITE_SPACE = [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680] + list(range(0x2000, 0x200B)) + [
    0x2028, 0x2029, 0x202F, 0x205F, 0x3000]
CONTROLS = list(range(0x00, 0x20)) + [0x7F] + list(range(0x80, 0xA0))
# Not White_Space, but space-like or invisible: must not pass as blanks.
LOOKALIKES = [0x180E, 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF]
CHARS = sorted(set(WHITE_SPACE + CONTROLS + LOOKALIKES))

# Templates: `X` is replaced by the inserted character. Each names the
# position. Keys are unique within a file (the bash side compares final
# values), and none is a name bash or the harness gives a meaning.
POSITIONS = [
    ("line start, before #", "X# comment"),
    ("line start, alone", "X"),
    ("line start, before a key", "XK1=\"v\""),
    ("after blanks, before #", " \tX# comment"),
    ("inside a comment", "# aXb"),
    ("after blanks, before a key", "  XK1=\"v\""),
    ("inside a key", "K1XK2=\"v\""),
    ("before =", "K1X=\"v\""),
    ("after =", "K1=X\"v\""),
    ("inside a quoted value", "K1=\"aXb\""),
    ("quoted value only", "K1=\"X\""),
    ("after a quoted value", "K1=\"v\"X"),
    ("after a quoted value, before #", "K1=\"v\"X# c"),
    ("after a quoted value and a blank", "K1=\"v\" X"),
    ("inside an unquoted value", "K1=aXb"),
    ("after an unquoted value", "K1=aX"),
    ("after an unquoted value, before a command", "K1=aXtouch_pwned"),
    ("between two assignments", "K1=aXK2=b"),
    ("inside a trailing comment", "K1=\"v\" # aXb"),
    ("before a command", "Xtouch_pwned"),
]

PREFIX = "# generated\nK0=\"first\"\n"
SUFFIX = "K9=last\n"

STRUCTURAL = [
    ("command substitution $()", "K1=\"$(touch_pwned)\"\n"),
    ("unquoted command substitution", "K1=$(touch_pwned)\n"),
    ("backticks", "K1=`touch_pwned`\n"),
    ("backticks in quotes", "K1=\"`touch_pwned`\"\n"),
    ("semicolon", "K1=\"x\";touch_pwned\n"),
    ("semicolon after unquoted", "K1=x;touch_pwned\n"),
    ("and-and", "K1=x && touch_pwned\n"),
    ("or-or", "K1=x || touch_pwned\n"),
    ("pipe", "K1=x|touch_pwned\n"),
    ("background", "K1=x&touch_pwned\n"),
    ("redirect", "K1=x>pwned\n"),
    ("redirect in", "K1=x<pwned\n"),
    ("trailing command", "K1=\"x\" touch_pwned\n"),
    ("trailing command unquoted", "K1=x touch_pwned\n"),
    ("two assignments", "K1=x K2=y\n"),
    ("two quoted assignments", "K1=\"x\" K2=\"y\"\n"),
    ("multi-line quote", "K1=\"multi\nline\"\n"),
    ("multi-line quote to a command", "K1=\"x\ntouch_pwned\n\"\n"),
    ("line continuation", "K1=x\\\ntouch_pwned\n"),
    ("quoted then continuation", "K1=\"x\"\\\ntouch_pwned\n"),
    ("backslash in quotes", "K1=\"a\\\"b\"\n"),
    ("dollar variable", "K1=\"$HOME\"\n"),
    ("dollar brace", "K1=\"${K0}\"\n"),
    ("unset variable (set -u)", "K1=\"$NOPE\"\n"),
    ("arithmetic", "K1=$((1+1))\n"),
    ("quote glued to a word", "K1=\"x\"y\n"),
    ("word glued to a quote", "K1=x\"y\"\n"),
    ("comment glued to a quoted value", "K1=\"x\"#c\n"),
    ("comment glued to an unquoted value", "K1=x#c\n"),
    ("single quotes", "K1='x'\n"),
    ("single quote inside double", "K1=\"a'b\"\n"),
    ("tilde", "K1=~\n"),
    ("tilde after colon", "K1=x:~\n"),
    ("glob", "K1=*\n"),
    ("glob question", "K1=?\n"),
    ("bracket", "K1=[a]\n"),
    ("brace expansion", "K1={a,b}\n"),
    ("array", "K1=(a b)\n"),
    ("array element", "K1[0]=x\n"),
    ("append", "K1+=x\n"),
    ("export", "export K1=x\n"),
    ("readonly", "readonly K1=x\n"),
    ("declare", "declare K1=x\n"),
    ("function", "f() { touch_pwned; }\n"),
    ("brace group", "{ K1=x; }\n"),
    ("subshell", "(touch_pwned)\n"),
    ("bare command", "touch_pwned\n"),
    ("key starts with a digit", "1K=x\n"),
    ("empty key", "=x\n"),
    ("space before =", "K1 =x\n"),
    ("space after =", "K1= touch_pwned\n"),
    ("equals in unquoted value", "K1=a=b\n"),
    ("history bang", "K1=\"!x\"\n"),
    ("CRLF", "K1=\"x\"\r\nK2=\"y\"\r\n"),
    ("CR alone", "K1=\"x\"\rtouch_pwned\n"),
    ("CR in comment", "# a\rb\n"),
    ("NUL", "K1=\"a\0b\"\n"),
    ("NUL at line start", "\0touch_pwned\n"),
    ("BOM", "\ufeffK1=x\n"),
    ("no trailing newline", "K1=\"x\""),
    ("empty file", ""),
    ("only blank lines", "\n \n\t\n"),
    ("shebang comment", "#!/bin/sh\n"),
    ("indented comment and assignment", "\t # c\n \tK1=\"a b\" \t# c $(x) `y`\n"),
    ("unquoted safe set", "K1=a/b:c@d%e+f,g-h.i_j\n"),
    ("empty values", "K1=\nK2=\"\"\nK3= # c\n"),
    ("unicode in quotes", "K1=\"\u00e9\u00fc \u4e2d \U0001F600\"\n"),
    ("punctuation in quotes", "K1=\"'!#;&|<>(){}*?[]~%=^,.:@+-_/ \t\"\n"),
    ("unicode in comment", "# \u00e9t\u00e9 \u4e2d\n"),
    ("unicode in unquoted value", "K1=\u00e9\n"),
    ("long line", "K1=\"" + "x" * 5000 + "\"\n"),
    ("many lines", "".join("K%d=\"v%d\"\n" % (i, i) for i in range(1, 200))),
]

# Raw bytes (not UTF-8).
BYTES = [
    ("invalid UTF-8 in a comment", b"K1=x\n# \xff\n"),
    ("invalid UTF-8 in a value", b"K1=\"a\xffb\"\n"),
    ("overlong slash", b"K1=\"\xc0\xaf\"\n"),
    ("truncated sequence", b"K1=\"\xe2\x80\"\n"),
    ("lone continuation at line start", b"\x80touch_pwned\n"),
    ("surrogate", b"K1=\"\xed\xa0\x80\"\n"),
    ("latin-1 no-break space", b"\xa0# c\n"),
]


def cases():
    """(name, bytes) for params.cfg and disk.cfg alike."""
    out = []
    for cp in CHARS:
        for where, template in POSITIONS:
            text = PREFIX + template.replace("X", chr(cp)) + "\n" + SUFFIX
            out.append(("U+%04X %s" % (cp, where), text.encode("utf-8", "surrogatepass")))
    for name, text in STRUCTURAL:
        out.append((name, text.encode("utf-8")))
    for name, data in BYTES:
        out.append((name, data))
    # Random valid-looking files: mixes of the pieces above.
    rng = random.Random(17)
    quoted = list("abc XYZ019'!#;&|<>(){}*?[]~%=^,.:@+-_/\t") + ["\u00a0", "\u3000", "\u2028", "\u00e9", "\u4e2d"]
    unquoted = list("abcXYZ019_-./:,+@%")
    for n in range(150):
        lines = []
        keys = iter("R%d" % i for i in range(100))
        for _ in range(rng.randint(1, 8)):
            kind = rng.randrange(6)
            indent = "".join(rng.choice(" \t") for _ in range(rng.randrange(3)))
            trail = "".join(rng.choice(" \t") for _ in range(rng.randrange(3)))
            if kind == 0:
                lines.append(indent)
            elif kind == 1:
                lines.append(indent + "#" + "".join(rng.choice(quoted) for _ in range(rng.randrange(10))))
            elif kind in (2, 3):
                value = "".join(rng.choice(quoted) for _ in range(rng.randrange(12)))
                comment = (" #" + "".join(rng.choice(quoted) for _ in range(4))) if rng.randrange(3) == 0 else ""
                lines.append('%s%s="%s"%s%s' % (indent, next(keys), value, trail, comment))
            else:
                value = "".join(rng.choice(unquoted) for _ in range(rng.randrange(12)))
                lines.append("%s%s=%s%s" % (indent, next(keys), value, trail))
        out.append(("random %d" % n, ("\n".join(lines) + "\n").encode("utf-8")))
    return out


BASH = r'''
set -u
__bg_file=$1 __bg_trace=$2 __bg_cnf=$3 __bg_out=$4
command_not_found_handle() { printf '%s\n' "$*" >> "$__bg_cnf"; return 127; }
PATH=$5
for __bg_k in $(compgen -v); do printf '%s\0' "$__bg_k"; done > "$__bg_out.before"
declare -F > "$__bg_out.fbefore"
exec 9>"$__bg_trace"
BASH_XTRACEFD=9
set -x
. "$__bg_file"
set +x
exec 9>&-
for __bg_k in $(compgen -v); do
  case $__bg_k in __bg_*|BASH_XTRACEFD|_) continue ;; esac
  printf '%s\0' "$__bg_k"
done > "$__bg_out.after"
for __bg_k in "${@:6}"; do
  if [[ -v $__bg_k ]]; then printf '%s\0%s\0' "$__bg_k" "${!__bg_k}"; else printf '%s\0<unset>\0' "$__bg_k"; fi
done > "$__bg_out.values"
declare -F > "$__bg_out.fafter"
'''


def bash_reads(path, keys, work, locale):
    """What bash does when it sources `path`: None if it performed exactly
    the assignments `keys` (in order) and nothing else, else a reason.
    Returns (reason, values) with values the final value of each key."""
    trace = os.path.join(work, "trace")
    cnf = os.path.join(work, "cnf")
    out = os.path.join(work, "out")
    # PATH: an empty directory (an empty PATH would search the current one).
    empty = os.path.join(work, "empty-path")
    os.makedirs(empty, exist_ok=True)
    for f in (trace, cnf):
        if os.path.exists(f):
            os.unlink(f)
    env = ["env", "-i"] + (["LC_ALL=" + locale] if locale else []) + [
        "/bin/bash", "--norc", "--noprofile", "-c", BASH, "bash", path, trace, cnf, out, empty] + [k for k, _ in keys]
    r = subprocess.run(env, stdin=subprocess.DEVNULL, capture_output=True, cwd=work, timeout=20)
    if r.returncode != 0 or r.stdout or r.stderr:
        return "bash exited %d, stdout %r, stderr %r" % (r.returncode, r.stdout[:300], r.stderr[:300]), None
    if os.path.exists(cnf):
        return "bash ran commands: %r" % open(cnf, "rb").read()[:300], None
    if os.path.exists(os.path.join(work, "pwned")):
        return "bash created `pwned`", None
    # The trace: `+ . FILE`, one `++ KEY=...` per assignment in the
    # sourced file, `+ set +x`.
    lines = open(trace, "rb").read().split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    if len(lines) < 2 or lines[0] != b"+ . " + path.encode() or lines[-1] != b"+ set +x":
        return "trace is not `. FILE` ... `set +x`: %r" % lines, None
    traced = []
    for line in lines[1:-1]:
        if not line.startswith(b"++ ") or b"=" not in line:
            return "bash traced something other than an assignment: %r" % line[:200], None
        key = line[3:].split(b"=", 1)[0]
        if not key.replace(b"_", b"a").isalnum() or key[:1].isdigit():
            return "bash traced something other than an assignment: %r" % line[:200], None
        traced.append(key.decode())
    want = [k for k, _ in keys]
    if traced != want:
        return "bash assigned %r, the tool parsed %r" % (traced, want), None
    before = set(open(out + ".before", "rb").read().decode("latin-1").split("\0")) - {""}
    after = set(open(out + ".after", "rb").read().decode("latin-1").split("\0")) - {""}
    new = after - before - set(want)
    if new:
        return "bash set other variables: %r" % sorted(new), None
    if open(out + ".fbefore", "rb").read() != open(out + ".fafter", "rb").read():
        return "bash defined functions", None
    fields = open(out + ".values", "rb").read().split(b"\0")[:-1]
    values = dict(zip(fields[0::2], fields[1::2]))
    final = {}
    for k, v in keys:
        final[k] = v
    for k, v in final.items():
        got = values.get(k.encode())
        if got != v.encode("utf-8"):
            return "bash gave %s the value %r, the tool parsed %r" % (k, got, v), None
    return None, values


def run_case(tool, work, name, data, file, defaults):
    """One file through `check` and, if accepted, through bash: returns
    (passed, line)."""
    img = os.path.join(work, "img")
    label = "%s: %s" % (file, name)
    for f, d in defaults.items():
        with open(os.path.join(img, f), "wb") as out:
            out.write(data if f == file else d)
    r = subprocess.run([tool, "check", "-q", img], stdin=subprocess.DEVNULL, capture_output=True)
    err = r.stderr.decode("utf-8", "replace")
    if r.returncode != 0:
        # The refusal names the file and the line.
        if r.returncode != 1 or file not in err or "line " not in err or "panicked" in err:
            return False, "FAIL %s: refused without naming the file and line (exit %d): %s" % (label, r.returncode, err.strip())
        return True, "ok   %s: refused (%s)" % (label, err.strip().splitlines()[0][:200])
    dump = "dump-paramsconfig" if file == "params.cfg" else "dump-diskconfig"
    d = subprocess.run([tool, dump, "--json", img], stdin=subprocess.DEVNULL, capture_output=True)
    if d.returncode != 0:
        return False, "FAIL %s: accepted but %s failed: %s" % (label, dump, d.stderr.decode("utf-8", "replace"))
    keys = [tuple(kv) for kv in json.loads(d.stdout)["assignments"]]
    for locale in (None, "C.UTF-8"):
        reason, _ = bash_reads(os.path.join(img, file), keys, work, locale)
        if reason:
            return False, "FAIL %s: accepted, but %s (locale %s); text %r" % (label, reason, locale or "C", data[:300])
    return True, "ok   %s: accepted, %d assignments" % (label, len(keys))


def main():
    tool, work = sys.argv[1], sys.argv[2]
    jobs = 4
    works = []
    for j in range(jobs):
        w = os.path.join(work, "w%d" % j)
        os.makedirs(os.path.join(w, "img"))
        works.append(w)
    subprocess.run([tool, "create", os.path.join(works[0], "img")], check=True)
    os.unlink(os.path.join(works[0], "img", "manifest.sha256"))
    defaults = {f: open(os.path.join(works[0], "img", f), "rb").read() for f in ("params.cfg", "disk.cfg", "guest.cfg")}
    for w in works[1:]:
        for f, d in defaults.items():
            with open(os.path.join(w, "img", f), "wb") as out:
                out.write(d)
    # The bash side can fail: it sees a command, a missed or extra
    # assignment, a wrong value.
    probe = os.path.join(works[0], "probe")
    for text, keys, want in [
        ("K1=x\n", [("K1", "x")], None),
        ("touch_pwned\n", [], "ran commands"),
        ("\vK1=x\n", [("K1", "x")], "ran commands"),
        ("K1=x K2=y\n", [("K1", "x")], "assigned"),
        ("K1=x\n", [("K1", "y")], "value"),
        ("f() { :; }\n", [], "functions"),
    ]:
        with open(probe, "w") as f:
            f.write(text)
        reason, _ = bash_reads(probe, keys, works[0], None)
        if (reason is None) != (want is None) or (want and want not in reason):
            print("FAIL harness self-check %r: %s" % (text, reason))
            sys.exit(1)
    print("ok   harness self-check")
    tasks = [(name, data, file) for name, data in cases() for file in ("params.cfg", "disk.cfg")]
    free = queue.Queue()
    for w in works:
        free.put(w)

    def one(task):
        w = free.get()
        try:
            return run_case(tool, w, *task, defaults)
        finally:
            free.put(w)

    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        results = list(pool.map(one, tasks))
    failed = 0
    counts = {"accepted": 0, "refused": 0}
    for passed, line in results:
        print(line)
        if not passed:
            failed += 1
        elif ": accepted" in line:
            counts["accepted"] += 1
        else:
            counts["refused"] += 1
    print("%d accepted, %d refused, %d failed" % (counts["accepted"], counts["refused"], failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
