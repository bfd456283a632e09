#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Check the conventions of docs/api.md that a machine can check.

usage: check-conventions.py LIBLRPC_SO SOURCE_ROOT

- every exported symbol is lrpc_<object>_<verb>[_<noun>] with a known
  object and verb (or one of the few module-level functions), and is
  declared LRPC_EXPORT in a public header;
- objects that are counted have both _ref and _unref; objects driven by a
  loop have the same loop-integration names;
- every timeout and deadline in the public headers is uint64_t microseconds
  (named *_usec), never milliseconds;
- runtime/rpc/ includes nothing of runtime/ipc/ but the seam header;
- no file of runtime/ above 600 lines, no function above 80 lines unless
  the comment right above it says why ("long: ...").

Exit 0 when everything holds, 1 with one line per violation otherwise.
"""

import glob
import os
import re
import subprocess
import sys

OBJECTS = ["rpc_client", "rpc_call", "rpc_stream", "rpc_iter", "server",
           "client", "conn", "loop", "arena"]
# Module-level functions that act on no object (lrpc_rpc_get_caller acts
# on the current thread's dispatch, which has no handle).
MODULE = {"lrpc_version", "lrpc_set_log_hook", "lrpc_transport_name",
          "lrpc_rpc_encode", "lrpc_rpc_decode", "lrpc_rpc_get_caller"}
VERBS = {
    "new", "new_async", "ref", "unref", "close", "start", "init", "done",
    "reset", "alloc", "get", "set", "is", "add", "remove", "del", "mod",
    "send", "recv", "call", "callv", "sendv", "reserve", "commit",
    "discard", "release", "emit", "broadcast", "cancel", "negotiate",
    "reply", "run", "run_once", "quit", "process", "attach", "next", "end",
    "fail", "take",
}
# Words the vocabulary replaced: they must not come back.
FORBIDDEN = {"dispatch", "disconnect", "abort", "free", "connect", "serve"}
LOOP_NAMES = ["get_fd", "get_events", "get_timeout", "process", "set_poll",
              "attach_loop", "run_once"]
MAX_FILE_LINES = 600
MAX_FUNC_LINES = 80


def exported(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True,
                         capture_output=True, text=True).stdout
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TDBR":
            syms.add(parts[2].split("@")[0])
    return syms


def split_name(sym):
    for obj in OBJECTS:
        prefix = "lrpc_" + obj + "_"
        if sym.startswith(prefix):
            return obj, sym[len(prefix):]
    return None, None


def check_symbols(syms, headers, errors):
    declared = set(re.findall(r"LRPC_EXPORT[^;(]*?\b(lrpc_\w+)\s*\(",
                              headers))
    for sym in sorted(syms):
        if not sym.startswith("lrpc_"):
            errors.append(f"{sym}: exported without the lrpc_ prefix")
            continue
        if sym not in declared:
            errors.append(f"{sym}: exported but not declared LRPC_EXPORT "
                          "in include/lrpc/")
        words = set(sym.split("_")[1:])
        bad = words & FORBIDDEN
        if bad:
            errors.append(f"{sym}: uses a replaced word ({', '.join(bad)})")
        if sym in MODULE:
            continue
        obj, rest = split_name(sym)
        if not obj:
            errors.append(f"{sym}: no known object prefix ({OBJECTS})")
            continue
        if rest.endswith("_get") or rest.endswith("_set"):
            errors.append(f"{sym}: noun_get/noun_set order; use get_noun")
        verb = rest if rest in VERBS else rest.split("_")[0]
        if verb not in VERBS:
            errors.append(f"{sym}: '{verb}' is not a verb of docs/api.md")
    for obj in OBJECTS:
        has_ref = f"lrpc_{obj}_ref" in syms
        has_unref = f"lrpc_{obj}_unref" in syms
        if has_ref != has_unref:
            errors.append(f"lrpc_{obj}: _ref and _unref come in pairs")
        # Connections are made by their server, not by the application.
        if has_ref and obj != "conn" and f"lrpc_{obj}_new" not in syms:
            errors.append(f"lrpc_{obj}: counted objects have _new")
    for obj in ["server", "client", "rpc_client"]:
        for name in LOOP_NAMES:
            if f"lrpc_{obj}_{name}" not in syms:
                errors.append(f"lrpc_{obj}_{name}: missing; every loop-"
                              "driven object has the same names")


def strip_comments(text):
    # Keep the line count: blank out comments but not their newlines.
    return re.sub(r"/\*.*?\*/",
                  lambda m: re.sub(r"[^\n]", " ", m.group(0)), text,
                  flags=re.S)


def check_time(headers_by_file, errors):
    for path, text in headers_by_file.items():
        text = strip_comments(text)
        for m in re.finditer(r"([\w\s\*]+?)\b(\w*(timeout|deadline)\w*)"
                             r"\s*[,;)]", text):
            decl, name = m.group(1), m.group(2)
            if name.startswith("LRPC_") or name.startswith("lrpc_"):
                continue
            ctype = decl.split()[-1] if decl.split() else ""
            if ctype.strip("*") != "uint64_t" or not name.endswith("usec"):
                line = text.count("\n", 0, m.start()) + 1
                errors.append(f"{path}:{line}: '{ctype} {name}': time is "
                              "uint64_t microseconds named *_usec")


def check_seam(root, errors):
    for path in glob.glob(os.path.join(root, "runtime/rpc/*.[ch]")):
        for n, line in enumerate(open(path, encoding="utf-8"), 1):
            m = re.match(r'#include "(ipc/[^"]+)"', line)
            if m and m.group(1) != "ipc/ipc-seam.h":
                rel = os.path.relpath(path, root)
                errors.append(f"{rel}:{n}: includes {m.group(1)}; the "
                              "RPC layer sees the core through "
                              "ipc/ipc-seam.h only")


def check_sizes(root, errors):
    for path in sorted(glob.glob(os.path.join(root, "runtime/**/*.c"),
                                 recursive=True)):
        rel = os.path.relpath(path, root)
        lines = open(path, encoding="utf-8").read().split("\n")
        if len(lines) > MAX_FILE_LINES:
            errors.append(f"{rel}: {len(lines)} lines (at most "
                          f"{MAX_FILE_LINES}: split it by job)")
        start = None
        for i, line in enumerate(lines):
            if (start is None and re.match(r"^[A-Za-z_]\w*\(", line)
                    and not line.rstrip().endswith(";")):
                start = i
            elif start is not None and line == "}":
                length = i - start + 1
                above = "\n".join(lines[max(0, start - 12):start])
                if length > MAX_FUNC_LINES and "long:" not in above:
                    name = lines[start].split("(")[0]
                    errors.append(f"{rel}:{start + 1}: {name} is {length} "
                                  f"lines (at most {MAX_FUNC_LINES} unless "
                                  "a comment says why: 'long: ...')")
                start = None


def main():
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    lib, root = sys.argv[1:]
    headers_by_file = {
        os.path.relpath(p, root): open(p, encoding="utf-8").read()
        for p in sorted(glob.glob(os.path.join(root, "include/lrpc/*.h")))
    }
    errors = []
    check_symbols(exported(lib), "\n".join(headers_by_file.values()),
                  errors)
    check_time(headers_by_file, errors)
    check_seam(root, errors)
    check_sizes(root, errors)
    for e in errors:
        print(e)
    if errors:
        print(f"{len(errors)} violation(s) of docs/api.md's conventions")
        return 1
    print("conventions hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
