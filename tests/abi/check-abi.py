#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Hold liblrpc to its ABI policy (README.md, "Versions and ABI").

    check-abi.py dump LIB HEADERS_DIR OUT     write LIB's ABI to OUT
    check-abi.py check LIB HEADERS_DIR BASELINE
    check-abi.py selftest                     prove check passes and fails

`check` dumps LIB with the same options as `dump` and compares the result
with BASELINE.  It passes when the only differences are additions (new
functions, variables, types, enumerators), fails when an exported symbol is
removed or an exported function's or variable's type, or a public type they
reach, changes, and passes with a notice when the SONAME differs from the
baseline's (an intended break: the baseline must be regenerated).  Exit
status: 0 pass, 1 ABI break, 77 skipped (no abigail-tools, no debug
information, or a baseline for another architecture), 99 tool failure;
meson reads 77 and 99 as skip and error.

abidiff sets status bit 4 for any change, additions included, and bit 8
only for removals and SONAME changes, so neither bit tells a compatible
addition from a changed type.  Two readings of the comparison have to
agree instead: abidiff --no-added-syms exits 0 only when nothing but
additions changed, and the summary lines of the full report ("Functions
changes summary: R Removed, C Changed, A Added functions") must show no
removed and no changed entity.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

PASS, BREAK, SKIP, ERROR = 0, 1, 77, 99

ABIDIFF_ERROR = 1
ABIDIFF_USAGE_ERROR = 2

# Only exported functions and variables and the types the public headers
# declare count (--exported-interfaces-only, --headers-dir with
# --drop-private-types): internal declarations and the layout of internal
# structs may change freely.  The rest keeps the dump a function of the
# binary's interface alone, so that the committed baseline does not change
# with the checkout's path, the line numbers in the headers, the link's
# DT_NEEDED list (sanitizer builds add to it), or the order in which types
# were read (hash type ids).
ABIDW_OPTIONS = [
    "--exported-interfaces-only",
    "--drop-private-types",
    "--drop-undefined-syms",
    "--no-corpus-path",
    "--no-comp-dir-path",
    "--no-show-locs",
    "--no-elf-needed",
    "--type-id-style", "hash",
]

REGENERATE = "make abi-baseline"


class ToolError(Exception):
    """abidw or abidiff failed, or gave output this script cannot read."""


def log(msg: str = "") -> None:
    print(msg, flush=True)


def run(cmd: list, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, **kw)


def abidw(lib: str, headers: str, out: str) -> None:
    r = run(["abidw", "--headers-dir", headers, *ABIDW_OPTIONS,
             "--out-file", out, lib])
    if r.returncode != 0:
        raise ToolError(f"abidw {lib} failed ({r.returncode}):\n{r.stdout}")


def corpus_attr(abi_text: str, name: str) -> str:
    """An attribute of the <abi-corpus> element ('' if absent)."""
    m = re.search(r"<abi-corpus\b[^>]*>", abi_text)
    if not m:
        raise ToolError("not an abidw corpus")
    a = re.search(r"\b%s='([^']*)'" % name, m.group(0))
    return a.group(1) if a else ""


# "Functions changes summary: 1 Removed, 0 Changed (1 filtered out),
# 2 Added functions" and the same for variables, function symbols and
# variable symbols.  Filtered-out entries are harmless by abidiff's
# default suppressions (an enumerator appended to an enum, for instance).
SUMMARY = re.compile(r"^\s*(?P<what>[A-Z][A-Za-z ]*?) (changes )?summary: "
                     r"(?P<counts>.*)$")
COUNT = re.compile(r"(\d+) (Removed|Changed|Added)\b")


def summary_counts(report: str) -> dict:
    """{'Functions': {'Removed': n, 'Changed': n, 'Added': n}, ...}"""
    out = {}
    for line in report.splitlines():
        m = SUMMARY.match(line)
        if not m:
            continue
        counts = {k: int(n) for n, k in COUNT.findall(m.group("counts"))}
        if counts:
            out[m.group("what")] = counts
    return out


# Structs that grow at their end without breaking anyone: option structs,
# callback and ops tables that begin with size_t struct_size (the library
# accepts a smaller one from an older header: lrpc__copy_sized(),
# lrpc__poll_ops_check()) and statistics filled up to a size the caller
# passes, and the interface table generated code hands to the library
# (lrpc__rpc_interface_valid() accepts one down to the 1.0 size and reads
# later members only when struct_size covers them).  A member appended to
# one of them is not a break; any other change to them is.  (t_opts
# belongs to the self-test.)
GROWABLE = re.compile(r"^(lrpc_(server_opts|client_opts|server_callbacks|"
                      r"poll_ops|server_stats|conn_stats|rpc_interface)|"
                      r"t_opts)$")

# The lines of an abidiff report that a growth at the end may produce.
GROWTH_LINES = [
    r"Functions changes summary: .*",
    r"Variables changes summary: .*",
    r"\d+ functions? with some indirect sub-type changes?:",
    r"\[C\] 'function .*' has some indirect sub-type changes:",
    r"parameter \d+ of type '.*' has sub-type changes:",
    r"in pointed to type '.*':",
    r"in unqualified underlying type '.*':",
    r"\d+ data member insertions?:",
]


def only_growth(report: str) -> bool:
    """True if every change abidiff reports is members appended at the end
    of GROWABLE structs (and the functions that reach them)."""
    size = None
    seen = False
    for raw in report.splitlines():
        line = raw.strip()
        if not line:
            continue
        m = (re.fullmatch(r"underlying type 'struct (\w+)' changed:", line)
             or re.fullmatch(r"in unqualified underlying type "
                             r"'struct (\w+)':", line))
        if m:
            if not GROWABLE.match(m.group(1)):
                return False
            size, seen = None, True
            continue
        m = re.fullmatch(r"type size changed from (\d+) to (\d+) "
                         r"\(in bits\)", line)
        if m:
            if int(m.group(2)) <= int(m.group(1)):
                return False
            size = int(m.group(1))
            continue
        m = re.fullmatch(r"'.*', at offset (\d+) \(in bits\)", line)
        if m:
            if size is None or int(m.group(1)) < size:
                return False
            continue
        if not any(re.fullmatch(p, line) for p in GROWTH_LINES):
            return False
    return seen


def check(lib: str, headers: str, baseline: str) -> int:
    if not (shutil.which("abidw") and shutil.which("abidiff")):
        log("check-abi: abidw/abidiff not found (Debian: abigail-tools); "
            "skipping")
        return SKIP
    if not os.path.exists(baseline):
        log(f"check-abi: no baseline {baseline}; create it with "
            f"`{REGENERATE}`")
        return BREAK
    with tempfile.TemporaryDirectory() as tmp:
        fresh = os.path.join(tmp, "fresh.abi")
        abidw(lib, headers, fresh)
        with open(fresh, encoding="utf-8") as f:
            fresh_text = f.read()
        with open(baseline, encoding="utf-8") as f:
            base_text = f.read()

        # Without DWARF abidw sees symbols only, and abidiff then reports
        # nothing at all against a full baseline: say so rather than pass.
        if "<abi-instr" not in fresh_text:
            log(f"check-abi: {lib} has no debug information (build with "
                "-g); skipping")
            return SKIP
        arch = corpus_attr(fresh_text, "architecture")
        base_arch = corpus_attr(base_text, "architecture")
        if arch != base_arch:
            log(f"check-abi: the baseline describes {base_arch}, this "
                f"build is {arch}; skipping")
            return SKIP

        full = run(["abidiff", baseline, fresh])
        if full.returncode & (ABIDIFF_ERROR | ABIDIFF_USAGE_ERROR):
            raise ToolError(f"abidiff failed ({full.returncode}):\n"
                            f"{full.stdout}")

        soname = corpus_attr(fresh_text, "soname")
        base_soname = corpus_attr(base_text, "soname")
        if soname != base_soname:
            log(f"check-abi: SONAME changed from {base_soname} to {soname}: "
                "an intended ABI break.  The baseline must be regenerated: "
                f"run `{REGENERATE}` and commit {baseline}.")
            if full.stdout.strip():
                log()
                log(full.stdout.rstrip())
            return PASS

        strict = run(["abidiff", "--no-added-syms", baseline, fresh])
        if strict.returncode & (ABIDIFF_ERROR | ABIDIFF_USAGE_ERROR):
            raise ToolError(f"abidiff --no-added-syms failed "
                            f"({strict.returncode}):\n{strict.stdout}")
        counts = summary_counts(full.stdout)
        broken = {what: c for what, c in counts.items()
                  if c.get("Removed", 0) or c.get("Changed", 0)}
        if full.returncode and not counts:
            raise ToolError("abidiff reported changes (status "
                            f"{full.returncode}) without a summary this "
                            f"script can read:\n{full.stdout}")

        if strict.returncode == 0 and not broken:
            added = sum(c.get("Added", 0) for c in counts.values())
            if full.returncode == 0:
                log(f"check-abi: {soname} matches the baseline")
            else:
                log(f"check-abi: {soname} is compatible with the baseline; "
                    f"{added} addition(s).  Record them with "
                    f"`{REGENERATE}` when they are meant to stay:")
                log()
                log(full.stdout.rstrip())
            return PASS

        if only_growth(strict.stdout):
            log(f"check-abi: {soname} is compatible with the baseline: "
                "members appended to structs that grow at their end.  "
                f"Record them with `{REGENERATE}`:")
            log()
            log(full.stdout.rstrip())
            return PASS

        what = ", ".join(f"{what}: {c.get('Removed', 0)} removed, "
                         f"{c.get('Changed', 0)} changed"
                         for what, c in broken.items())
        log(f"check-abi: ABI BREAK in {soname} against "
            f"{baseline} ({what or 'see the report'}).")
        log("Programs built against the baseline would misbehave with this "
            "library.  Either keep the old interface, or make the break "
            "intended: bump the major version in VERSION (the SONAME "
            "follows), rename the version node in runtime/liblrpc.sym, and "
            f"run `{REGENERATE}`.")
        log()
        log(full.stdout.rstrip())
        return BREAK


# --- self-test: the checker on throwaway libraries -------------------------

SELFTEST_HEADER = """\
struct t_point { int x; int y; };
struct t_opts { unsigned long struct_size; int a; };
int t_new(const struct t_opts *o);
enum t_kind { T_A = 0, T_B = 1, _T_KIND_MAX = 0x7fffffff };
int t_norm(const struct t_point *p);
int t_kind_ok(enum t_kind k);
extern int t_count;
"""
SELFTEST_SOURCE = """\
#include "t.h"
int t_count;
int t_norm(const struct t_point *p) { return p->x + p->y; }
int t_kind_ok(enum t_kind k) { return k < _T_KIND_MAX; }
int t_new(const struct t_opts *o) { return o->a; }
"""

# name: (edit of header and source, soname, expected status, expected text)
SELFTEST_CASES = {
    "same": (lambda h, c: (h, c), "libt.so.1", PASS, "matches"),
    "added function and enumerator": (
        lambda h, c: (h.replace("T_B = 1,", "T_B = 1, T_C = 2,")
                      + "int t_added(void);\n",
                      c + "int t_added(void) { return 1; }\n"),
        "libt.so.1", PASS, "compatible"),
    "removed function": (
        lambda h, c: ("\n".join(x for x in h.splitlines()
                                if "t_kind_ok" not in x) + "\n",
                      "\n".join(x for x in c.splitlines()
                                if "t_kind_ok" not in x) + "\n"),
        "libt.so.1", BREAK, "1 removed"),
    "struct member type changed": (
        lambda h, c: (h.replace("int y; };", "long y; };"), c),
        "libt.so.1", BREAK, "1 changed"),
    "variable type changed": (
        lambda h, c: (h.replace("extern int t_count", "extern long t_count"),
                      c.replace("int t_count", "long t_count")),
        "libt.so.1", BREAK, "1 changed"),
    "enumerator value changed": (
        lambda h, c: (h.replace("T_B = 1,", "T_B = 2,"), c),
        "libt.so.1", BREAK, "1 changed"),
    "member appended to a growable struct": (
        lambda h, c: (h.replace("int a; };", "int a; long b; };"), c),
        "libt.so.1", PASS, "appended"),
    "member changed in a growable struct": (
        lambda h, c: (h.replace("int a; };", "long a; };"), c),
        "libt.so.1", BREAK, "1 changed"),
    "member appended to another struct": (
        lambda h, c: (h.replace("int y; };", "int y; int z; };"), c),
        "libt.so.1", BREAK, "1 changed"),
    "removed function with a new SONAME": (
        lambda h, c: ("\n".join(x for x in h.splitlines()
                                if "t_kind_ok" not in x) + "\n",
                      "\n".join(x for x in c.splitlines()
                                if "t_kind_ok" not in x) + "\n"),
        "libt.so.2", PASS, "must be regenerated"),
}


def build_lib(cc: list, tmp: str, name: str, header: str, source: str,
              soname: str, debug: bool = True) -> tuple:
    d = os.path.join(tmp, re.sub(r"\W+", "-", name))
    os.mkdir(d)
    with open(os.path.join(d, "t.h"), "w", encoding="utf-8") as f:
        f.write(header)
    with open(os.path.join(d, "t.c"), "w", encoding="utf-8") as f:
        f.write(source)
    lib = os.path.join(d, "libt.so")
    r = run([*cc, "-shared", "-fPIC", *(["-g"] if debug else []),
             "-Wl,-soname," + soname, "-o", lib, os.path.join(d, "t.c")])
    if r.returncode != 0:
        raise ToolError(f"building {name}: {r.stdout}")
    return lib, d


def selftest() -> int:
    if not (shutil.which("abidw") and shutil.which("abidiff")):
        log("check-abi: abidw/abidiff not found (Debian: abigail-tools); "
            "skipping")
        return SKIP
    cc = shlex.split(os.environ.get("CC") or "cc")
    me = os.path.abspath(__file__)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        base_lib, base_dir = build_lib(cc, tmp, "baseline", SELFTEST_HEADER,
                                       SELFTEST_SOURCE, "libt.so.1")
        baseline = os.path.join(tmp, "libt.abi")
        abidw(base_lib, base_dir, baseline)
        cases = dict(SELFTEST_CASES)
        cases["no debug information"] = (lambda h, c: (h, c), "libt.so.1",
                                         SKIP, "no debug information")
        for name, (edit, soname, want, text) in cases.items():
            header, source = edit(SELFTEST_HEADER, SELFTEST_SOURCE)
            lib, d = build_lib(cc, tmp, name, header, source, soname,
                               debug=name != "no debug information")
            r = run([sys.executable, me, "check", lib, d, baseline])
            ok = r.returncode == want and text in r.stdout
            failures += not ok
            log(f"{'ok  ' if ok else 'FAIL'} {name}: exit {r.returncode} "
                f"(want {want})")
            if not ok:
                log("     expected the output to contain " + repr(text))
                log("     " + r.stdout.rstrip().replace("\n", "\n     "))
    log(f"check-abi selftest: {len(cases) - failures}/{len(cases)} "
        "cases as expected")
    return BREAK if failures else PASS


def main(argv: list) -> int:
    try:
        if len(argv) == 4 and argv[0] == "dump":
            lib, headers, out = argv[1:]
            abidw(lib, headers, out)
            with open(out, encoding="utf-8") as f:
                if "<abi-instr" not in f.read():
                    os.unlink(out)
                    log(f"check-abi: {lib} has no debug information; "
                        "build it with -g")
                    return BREAK
            log(f"check-abi: wrote {out}")
            return PASS
        if len(argv) == 4 and argv[0] == "check":
            return check(*argv[1:])
        if argv == ["selftest"]:
            return selftest()
    except ToolError as e:
        log(f"check-abi: {e}")
        return ERROR
    log(__doc__.split("\n\n")[1])
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
