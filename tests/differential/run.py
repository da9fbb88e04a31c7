#!/usr/bin/env python3
"""Differential test of the tool's tar reader (issue 10).

Crafts archives byte by byte - the four disagreements reported in issue 10,
and mutations of a valid image (size fields, type flags, checksums, pax
records, the ustar prefix, names, end-of-archive, truncation) - and runs
each through the tool (`check`, then `extract`) and, when the tool accepts
it, through GNU tar, bsdtar, busybox tar and Python's tarfile. A case fails
when the tool accepts an archive that any of those readers cannot extract
or extracts to other members, types or contents than the tool does, or
when a case marked `refuse` or `accept` goes the other way.

Usage: run.py TOOL [WORKDIR]   (exit 0: every case passed; 1: some failed)

Failed cases are kept in a new directory under WORKDIR (default: the
temporary directory), each as caseN/image.xenguest with every extraction.

Headers are built here by hand, not with tarfile, so that the generator
does not share a reader's idea of what a header means.
"""

import hashlib
import itertools
import os
import shutil
import subprocess
import sys
import tempfile

BLOCK = 512
END = bytes(1024)

# ---------------------------------------------------------------------------
# Building archives


def octal(n, width):
    return b"%0*o\0" % (width - 1, n)


def checksum(h):
    return sum(h[:148]) + 8 * 32 + sum(h[156:])


def set_checksum(h):
    h[148:156] = b"%06o\0 " % checksum(h)
    return h


def header(name, typeflag=b"0", size=0, mode=None, link=b"", magic=b"ustar\x0000", prefix=b""):
    if isinstance(name, str):
        name = name.encode()
    h = bytearray(BLOCK)
    h[0:len(name)] = name
    if mode is None:
        mode = 0o755 if typeflag == b"5" else 0o644
    h[100:108] = octal(mode, 8)
    h[108:116] = octal(0, 8)
    h[116:124] = octal(0, 8)
    h[124:136] = octal(size, 12)
    h[136:148] = octal(946684800, 12)
    h[156:157] = typeflag
    h[157:157 + len(link)] = link
    h[257:257 + len(magic)] = magic
    if magic.startswith(b"ustar"):
        h[265:269] = b"root"
        h[297:301] = b"root"
    h[345:345 + len(prefix)] = prefix
    return set_checksum(h)


def pad(data):
    return data + bytes(-len(data) % BLOCK)


def member(name, data=b"", typeflag=b"0", **kw):
    if isinstance(data, str):
        data = data.encode()
    return bytes(header(name, typeflag, len(data), **kw)) + pad(data)


def record(key, value):
    if isinstance(key, str):
        key = key.encode()
    if isinstance(value, str):
        value = value.encode()
    base = len(key) + len(value) + 3
    n = base + 1
    while n != base + len(str(n)):
        n = base + len(str(n))
    return b"%d " % n + key + b"=" + value + b"\n"


def pax(records, typeflag=b"x"):
    return member("././@PaxHeader", records, typeflag)


def longname(name):
    return member("././@LongLink", name.encode() + b"\0", b"L")


PARAMS = 'GUEST_AUTOBOOT="1"\n'
EVIL_PARAMS = 'GUEST_AUTOBOOT="$(touch /tmp/pwned)"\n'
GUEST = "memory = 512\nvcpus = 1\n"
DISK = 'DISK_SIZE="0"\nDISK_DEVICE=""\n'
LONG = "./files/" + "d" * 90 + "/" + "n" * 60 + ".json"
GNULONG = "./files/" + "g" * 120 + ".dtb"


def base_members():
    """A valid image, one member per list item: ustar, pax and GNU names."""
    return [
        member("./", typeflag=b"5"),
        member("./disk.cfg", DISK),
        member("./guest.cfg", GUEST),
        member("./params.cfg", PARAMS),
        member("./files/", typeflag=b"5"),
        member("./files/kernel", b"KERNEL" * 100),
        pax(record("path", LONG)) + member(LONG[:100], b'{"long": 1}\n'),
        longname(GNULONG) + member(GNULONG[:100], b"DTB"),
        member("./files/last", b"last member\n"),
    ]


def image(members, end=END):
    return b"".join(members) + end


def mutate(members, index, fn, block=0):
    """The image with header `block` of member `index` changed by `fn`
    (which gets the header as a bytearray), checksum recomputed."""
    out = list(members)
    m = bytearray(out[index])
    h = bytearray(m[block * BLOCK:(block + 1) * BLOCK])
    keep = fn(h)
    if not keep:
        set_checksum(h)
    m[block * BLOCK:(block + 1) * BLOCK] = h
    out[index] = bytes(m)
    return out


def setf(start, end, value):
    def fn(h):
        h[start:end] = value.ljust(end - start, b"\0")[: end - start]
    return fn


# ---------------------------------------------------------------------------
# The cases: (name, bytes, expect, needle, witness) - expect is "refuse",
# "accept" or "either"; needle, for refusals, a text the tool's error must
# contain; witness, a member GNU tar must list (proof that the case hides
# what it claims to hide).


def cases():
    base = base_members()
    out = []

    def add(name, data, expect="either", needle=None, witness=None):
        out.append((name, data, expect, needle, witness))

    add("base image", image(base), "accept")

    # The four disagreements of issue 10.
    hidden = bytes(header("./files/evil", b"2", link=b"kernel"))
    add(
        "issue 10.1: directory size field hides a symlink",
        image(base[:5] + [bytes(header("./files/", b"5", size=512)) + hidden] + base[5:]),
        "refuse",
        "member `./files/` is a directory whose header gives it 512 bytes",
        "./files/evil",
    )
    add(
        "issue 10.1: directory size field hides a second params.cfg",
        image(base[:5] + [bytes(header("./files/", b"5", size=1024)) + member("./params.cfg", EVIL_PARAMS)] + base[5:]),
        "refuse",
        "member `./files/` is a directory",
        "./files/\n./params.cfg",
    )
    v7 = [
        member("./", typeflag=b"\0", magic=b""),
        member("./disk.cfg", DISK, typeflag=b"\0", magic=b""),
        member("./guest.cfg", GUEST, typeflag=b"\0", magic=b""),
        member("./params.cfg", PARAMS, typeflag=b"\0", magic=b""),
        member("./files/", typeflag=b"\0", magic=b"", mode=0o755),
        member("./files/kernel", "KERNEL", typeflag=b"\0", magic=b""),
    ]
    add("issue 10.2: v7 directories (type NUL, trailing slash)", image(v7), "accept")
    sparse = bytearray(header("./files/sparse", b"S", size=512, magic=b"ustar  \0"))
    # One map entry in the header (offset 0, 512 bytes) plus the
    # "is extended" flag at byte 482, then one extension block.
    sparse[386:398] = octal(0, 12)
    sparse[398:410] = octal(512, 12)
    sparse[482] = 1
    sparse[483:495] = octal(2048, 12)
    set_checksum(sparse)
    ext = bytearray(BLOCK)
    ext[0:12] = octal(1536, 12)
    ext[12:24] = octal(0, 12)
    add(
        "issue 10.3: old-GNU sparse member with an extension block",
        image(base[:6] + [bytes(sparse) + bytes(ext) + b"S" * 512] + base[6:]),
        "refuse",
        "`./files/sparse` is a GNU sparse file",
    )
    small = bytearray(header("./files/sparse", b"S", size=0, magic=b"ustar  \0"))
    small[482] = 1
    set_checksum(small)
    add(
        "issue 10.3: old-GNU sparse member whose extension block is zero",
        image(base[:6] + [bytes(small) + bytes(BLOCK)] + base[6:]),
        "refuse",
        "sparse",
    )
    add(
        "issue 10.4: pax key with a NUL byte",
        image(base[:6] + [pax(b"19 pa\0th=./evil.sh\n") + member("./files/x", "x")] + base[6:]),
        "refuse",
        "NUL",
        "./files/x",
    )

    # Size fields of every header of the base image.
    for i, m in enumerate(base):
        name = m[:100].split(b"\0")[0].decode()
        size = int(bytes(m[124:135]), 8)
        variants = {
            "zero": octal(0, 12),
            "plus 1": octal(size + 1, 12),
            "plus 512": octal(size + 512, 12),
            "plus 1024": octal(size + 1024, 12),
            "minus 1": octal(max(size - 1, 0), 12),
            "base-256": b"\x80" + size.to_bytes(11, "big"),
            "negative base-256": b"\xff" * 12,
            "leading spaces": b" " * 4 + b"%07o\0" % size,
            "trailing garbage": b"%011o" % size + b"x",
            "digits after a space": b"%05o 1\0\0\0\0\0" % size,
            "all NUL": bytes(12),
            "all spaces": b" " * 12,
            "no terminator": b"%012o" % size,
            "non-octal digit": b"%010o9\0" % size,
        }
        for label, value in variants.items():
            add(f"size field of `{name}`: {label}", image(mutate(base, i, setf(124, 136, value))))

    # Type flags of every member header (the last block of each item).
    for i, m in enumerate(base):
        last = len(m) // BLOCK - 1
        while last and m[last * BLOCK:last * BLOCK + 100].strip(b"\0") == b"":
            last -= 1
        for j in range(len(m) // BLOCK):
            if m[j * BLOCK + 257:j * BLOCK + 262] == b"ustar":
                last = j
        name = m[last * BLOCK:last * BLOCK + 100].split(b"\0")[0].decode()
        for t in b"\x000123456 7xgLKSDMVNAQ":
            flag = bytes([t])
            add(
                f"type flag of `{name}`: {flag!r}",
                image(mutate(base, i, setf(156, 157, flag), block=last)),
            )

    # Checksums.
    def plus_one(h):
        h[148:156] = b"%06o\0 " % (checksum(h) + 1)
        return True

    def spaces(h):
        h[148:156] = b"  %06o" % checksum(h)
        return True

    def signed(h):
        h[265:270] = b"r\xe9\xe9t"
        s = sum((b - 256 if b > 127 else b) for b in h[:148] + b" " * 8 + h[156:])
        h[148:156] = b"%06o\0 " % s
        return True

    def unsigned_high(h):
        h[265:270] = b"r\xe9\xe9t"

    for label, fn in [
        ("checksum off by one", plus_one),
        ("checksum with leading spaces", spaces),
        ("checksum over signed bytes", signed),
        ("unsigned checksum over high bytes", unsigned_high),
    ]:
        add(f"{label} (`./params.cfg`)", image(mutate(base, 3, fn)))
        add(f"{label} (`./files/kernel`)", image(mutate(base, 5, fn)))

    # Pax records.
    good = record("path", LONG)
    pax_cases = {
        "key with NUL": b"19 pa\0th=" + LONG.encode()[:6] + b"\n",
        "value with NUL": record("path", LONG[:20] + "\0" + LONG[21:]),
        "missing newline": good[:-1] + b" ",
        "length one short": b"%d" % (len(good) - 1) + good[len(str(len(good))):],
        "length one long": b"%d" % (len(good) + 1) + good[len(str(len(good))):] + b"\n",
        "length with a leading zero": b"0" + good,
        "length with a plus": b"+" + good,
        "two blanks after the length": good.replace(b" ", b"  ", 1),
        "tab after the length": good.replace(b" ", b"\t", 1),
        "empty key": b"6 =ab\n" + good,
        "no equal sign": b"9 pathab\n" + good,
        "empty path": record("path", "") + b"",
        "trailing NULs": good + bytes(8),
        "trailing garbage": good + b"garbage",
        "size record matching the header": good + record("size", "12"),
        "size record larger than the header": good + record("size", "512"),
        "size record with a plus": good + record("size", "+12"),
        "size record with spaces": good + record("size", " 12"),
        "sparse record": good + record("GNU.sparse.size", "12"),
        "linkpath record": good + record("linkpath", "/etc/shadow"),
        "mtime record": good + record("mtime", "1.5"),
        "uid record not a number": good + record("uid", "x"),
        "comment record": record("comment", "hello") + good,
        "path twice": record("path", "./files/first") + good,
    }
    for label, recs in pax_cases.items():
        members = base[:6] + [pax(recs) + member(LONG[:100], b'{"long": 1}\n')] + base[7:]
        add(f"pax header: {label}", image(members))
    add(
        "pax header: two x headers for one member",
        image(base[:6] + [pax(record("path", "./files/a")) + pax(good) + member(LONG[:100], b'{"long": 1}\n')] + base[7:]),
    )
    add(
        "pax header then GNU long name",
        image(base[:6] + [pax(good) + longname(GNULONG) + member(GNULONG[:100], b"DTB")] + base[8:]),
    )
    add(
        "GNU long name then pax header",
        image(base[:6] + [longname(GNULONG) + pax(good) + member(GNULONG[:100], b"DTB")] + base[8:]),
    )
    add(
        "two GNU long names",
        image(base[:7] + [longname("./files/other") + base[7]] + base[8:]),
    )
    for key in ["path", "size", "comment", "mtime"]:
        add(
            f"global pax header with `{key}`",
            image(base[:6] + [pax(record(key, "./files/g" if key != "size" else "0"), b"g")] + base[6:]),
        )
    add(
        "global pax header between a pax header and its member",
        image(base[:6] + [pax(good) + pax(record("comment", "x"), b"g") + member(LONG[:100], b"{}")] + base[7:]),
    )
    add(
        "GNU long name with bytes after a NUL",
        image(base[:7] + [member("././@LongLink", b"./files/a\0./files/b\0", b"L") + base[7][BLOCK * 2:]] + base[8:]),
        "refuse",
        "after a NUL",
    )
    add("GNU long name that is empty", image(base[:7] + [member("././@LongLink", b"\0", b"L") + base[7][BLOCK * 2:]] + base[8:]))
    add("GNU long link before a file", image(base[:8] + [member("././@LongLink", b"x" * 120 + b"\0", b"K") + base[8]]))
    add("pax header at the end", image(base + [pax(good)]), "refuse")

    # The ustar prefix.
    add("prefix `./files`, name `pfx`", image(base + [member("pfx", "P", prefix=b"./files")]), "accept")
    add("prefix `.`, name `files/pfx2`", image(base + [member("files/pfx2", "P", prefix=b".")]), "accept")
    add("prefix with `..`", image(base + [member("pfx", "P", prefix=b"./files/../..")]), "refuse")
    add("prefix in an old-GNU header", image(base + [member("./files/pfx", "P", magic=b"ustar  \0", prefix=b"./files")]))
    add("prefix in a v7 header", image(base + [member("./files/pfx", "P", magic=b"", prefix=b"./files")]))
    star = bytearray(header("pfx", prefix=b"./files", size=1))
    star[476:488] = b"00000000000 "
    star[488:500] = b"00000000000 "
    set_checksum(star)
    add("prefix followed by star times", image(base + [bytes(star) + pad(b"P")]))
    add("prefix of 155 bytes", image(base + [member("x", "P", prefix=b"./files/" + b"p" * 147)]))
    add("ustar magic with version `  `", image(mutate(base, 5, setf(257, 265, b"ustar\0  "))), "refuse", "unknown magic")
    add("garbage magic", image(mutate(base, 5, setf(257, 265, b"\0tsar\x0000"))), "refuse", "unknown magic")
    add(
        "pax header without ustar magic",
        image(base[:6] + [mutate([base[6]], 0, setf(257, 265, b""))[0]] + base[7:]),
        "refuse",
        "no ustar magic",
    )
    add("old-GNU magic", image(mutate(base, 5, setf(257, 265, b"ustar  \0"))))
    add("no magic", image(mutate(base, 5, setf(257, 265, b""))))

    # Names.
    add("empty name field", image(base + [member("", "E")]))
    add("empty name field, ustar prefix set", image(base + [member("", "E", prefix=b"./files")]))
    add(
        "directory named by the ustar prefix alone (cpio, Python)",
        image(base + [member("", typeflag=b"5", prefix=b"./files/pdir"), member("./files/pdir/x", "X")]),
        "accept",
    )
    add("name with a trailing slash on a file", image(base + [member("./files/t/", "")]))
    add("v7 directory with data", image(base + [member("./files/v7/", "DATA", typeflag=b"\0")]), "refuse")
    add("v7 directory, type `0`", image(base + [member("./files/v7/", "", typeflag=b"0")]))
    add("v7 directory, type NUL, in a ustar header", image(base + [member("./files/v7/", "", typeflag=b"\0")]), "refuse", "busybox tar a file")
    add("v7 directory, type NUL, in a v7 header", image(base + [member("./files/v7/", "", typeflag=b"\0", magic=b"")]), "accept")
    add("contiguous file (type `7`)", image(base + [member("./files/c7", "contiguous", typeflag=b"7")]))
    add("second params.cfg", image(base + [member("./params.cfg", EVIL_PARAMS)]), "refuse")
    add("params.cfg via pax path", image(base + [pax(record("path", "./params.cfg")) + member("./files/harmless", EVIL_PARAMS)]), "refuse")

    # End of archive.
    whole = image(base)
    add("one zero block then EOF", image(base, bytes(BLOCK)), "accept")
    add("no end-of-archive blocks", image(base, b""), "accept")
    add("record padding to 10240 bytes", whole + bytes(-len(whole) % 10240), "accept")
    add(
        "member after one zero block",
        b"".join(base[:5]) + bytes(BLOCK) + b"".join(base[5:]) + END,
        "refuse",
    )
    add(
        "params.cfg after two zero blocks",
        whole + member("./params.cfg", EVIL_PARAMS) + END,
        "refuse",
    )
    add("garbage after the end", whole + b"garbage" + bytes(505), "refuse")
    add("image concatenated to itself", whole + whole, "refuse")

    # Truncation at every block boundary and inside blocks.
    for cut in range(BLOCK, len(whole), BLOCK):
        add(f"truncated at byte {cut}", whole[:cut])
    for cut in range(100, len(whole) - 1024, 1536):
        add(f"truncated at byte {cut}", whole[:cut], "refuse")
    return out


# ---------------------------------------------------------------------------
# Running the tool and the readers


def python_extract(archive, dest):
    return [
        sys.executable,
        "-c",
        "import sys, tarfile\n"
        "t = tarfile.open(sys.argv[1])\n"
        "t.errorlevel = 2\n"
        "kw = {'filter': 'fully_trusted'} if hasattr(tarfile, 'fully_trusted_filter') else {}\n"
        "t.extractall(sys.argv[2], **kw)\n",
        archive,
        dest,
    ]


READERS = {
    "GNU tar": lambda a, d: ["tar", "-xf", a, "-C", d],
    "bsdtar": lambda a, d: ["bsdtar", "-xf", a, "-C", d],
    "busybox tar": lambda a, d: ["busybox", "tar", "-xf", a, "-C", d],
    "Python tarfile": python_extract,
}


def tree(root):
    """Every non-directory under root, and every empty directory but the
    root: path -> kind and content."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        if not dirs and not files and rel != ".":
            out[rel + "/"] = "dir"
        for n in files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
            p = os.path.join(dirpath, n)
            r = os.path.normpath(os.path.join(rel, n))
            if os.path.islink(p):
                out[r] = "symlink -> " + os.readlink(p)
            elif os.path.isfile(p):
                with open(p, "rb") as f:
                    out[r] = "file " + hashlib.sha256(f.read()).hexdigest()[:16]
            else:
                out[r] = "special %o" % os.lstat(p).st_mode
    return out


def run(cmd):
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)


def describe_diff(want, got):
    lines = []
    for k in sorted(set(want) | set(got)):
        if want.get(k) != got.get(k):
            lines.append(f"      {k}: tool {want.get(k, 'absent')}, reader {got.get(k, 'absent')}")
    return "\n".join(lines[:10])


def signed_cases(tool, work):
    """The tool's own signed image (issue 13: the signature members follow
    the manifest), read alike by every reader; and the same image with a
    flipped signature byte, which `check` refuses. The key is made by
    `openssl genpkey` here (no private key is committed)."""
    key = os.path.join(work, "sign-key.pem")
    img = os.path.join(work, "signed.xenguest")
    for cmd in (["openssl", "genpkey", "-algorithm", "ed25519", "-out", key],
                [tool, "create", "-q", img, "--xen-memory=256", "--sign-key", key]):
        r = run(cmd)
        if r.returncode != 0:
            raise SystemExit(f"FAIL: cannot make the signed image ({' '.join(cmd)}): {r.stderr.decode(errors='replace').strip()}")
    with open(img, "rb") as f:
        data = f.read()
    os.remove(img)
    yield ("signed image (manifest, signer key and signature trail the members)", data, "accept", None,
           "./manifest.sha256.sig")
    at = data.find(b"./manifest.sha256.sig\0")
    assert at >= 0 and at % BLOCK == 0, "no signature member header"
    bad = bytearray(data)
    bad[at + BLOCK] ^= 0xFF
    yield ("signed image with a flipped signature byte", bytes(bad), "refuse", "signature does not match",
           "./manifest.sha256.sig")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    tool = os.path.abspath(sys.argv[1])
    missing = [c for c in ("tar", "bsdtar", "busybox", "openssl") if shutil.which(c) is None]
    if missing:
        print(f"FAIL: the differential suite needs {', '.join(missing)} (scripts/test installs them)")
        return 1
    if len(sys.argv) > 2:
        os.makedirs(sys.argv[2], exist_ok=True)
    work = tempfile.mkdtemp(prefix="xenguest-differential-", dir=sys.argv[2] if len(sys.argv) > 2 else None)
    failures = 0
    accepted = refused = 0
    for n, (name, data, expect, needle, witness) in enumerate(itertools.chain(cases(), signed_cases(tool, work))):
        case = os.path.join(work, f"case{n}")
        os.makedirs(case)
        archive = os.path.join(case, "image.xenguest")
        with open(archive, "wb") as f:
            f.write(data)
        check = run([tool, "check", archive])
        problem = None
        if witness:
            listing = run(["tar", "-tf", archive]).stdout.decode(errors="replace")
            if witness not in listing:
                problem = f"the case is not what it claims: GNU tar does not list {witness!r}:\n{listing}"
        if problem:
            pass
        elif check.returncode != 0:
            refused += 1
            err = check.stderr.decode(errors="replace").strip().splitlines()
            reason = err[0] if err else "(no message)"
            if expect == "accept":
                problem = f"refused, expected to be read: {reason}"
            elif needle and needle not in check.stderr.decode(errors="replace"):
                problem = f"refused without naming {needle!r}: {reason}"
            elif "panicked" in reason:
                problem = f"panicked: {reason}"
            else:
                print(f"ok   {name}: refused ({reason.split(': error: ', 1)[-1][:160]})")
        else:
            accepted += 1
            if expect == "refuse":
                problem = "accepted, expected a refusal"
            else:
                dest = os.path.join(case, "tool")
                os.makedirs(dest)
                ex = run([tool, "extract", "-q", archive, dest])
                if ex.returncode != 0:
                    problem = "check passed but extract failed: " + ex.stderr.decode(errors="replace").strip()
                else:
                    want = tree(dest)
                    notes = []
                    for reader, cmd in READERS.items():
                        rdest = os.path.join(case, reader.replace(" ", "-"))
                        os.makedirs(rdest)
                        r = run(cmd(archive, rdest))
                        if reader == "busybox tar" and r.returncode != 0 and b"invalid tar magic" in r.stderr:
                            # busybox reads no v7 header (no `ustar` magic)
                            # and says so: it refuses, it does not read
                            # other members. GNU tar, bsdtar and Python
                            # read them, and so do we.
                            notes.append("busybox tar refuses its v7 headers: invalid tar magic")
                            continue
                        if r.returncode != 0:
                            problem = f"accepted, but {reader} fails to extract it: " + r.stderr.decode(errors="replace").strip()[:300]
                            break
                        got = tree(rdest)
                        if got != want:
                            problem = f"accepted, but {reader} extracts other members:\n" + describe_diff(want, got)
                            break
                    else:
                        note = f" ({'; '.join(notes)})" if notes else ""
                        print(f"ok   {name}: accepted, GNU tar, bsdtar, busybox tar and Python tarfile extract the same {len(want)} members{note}")
        if problem:
            failures += 1
            print(f"FAIL {name}: {problem}")
        else:
            shutil.rmtree(case)
    if not failures:
        shutil.rmtree(work)
    else:
        print(f"\nthe failed cases are kept in {work}")
    print(f"\n{accepted + refused} cases: {accepted} accepted (all readers agree), {refused} refused, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
