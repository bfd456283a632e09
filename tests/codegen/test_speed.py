"""Generation time is linear in the size of the input (docs/idl.md,
"Speed").

Times are the CPU time of the lrpc-gen process, which other work on the
machine changes far less than the wall-clock time.  Run as a program with
``--curve`` to print the table docs/idl.md records.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import unittest

from idltest import LRPC_GEN

BACKENDS = ["model", "c-types", "c-client", "c-server"]


def big_idl(structs: int) -> str:
    """``structs`` structs and an interface with a method for every tenth
    of them: declarations to look up, C names to claim, types to emit."""
    out = ["module big;\n"]
    out += [f"struct S{i} {{ u32 a @0; string b @1; }}\n"
            for i in range(structs)]
    out.append("interface Api {\n")
    out += [f"    m{i}(S{i} s) -> (u32 r) @{i};\n"
            for i in range(structs // 10)]
    out.append("}\n")
    return "".join(out)


def cpu_seconds(structs: int) -> float:
    """CPU time (user + system) of one lrpc-gen run over big_idl()."""
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "big.idl"), "w", encoding="utf-8") as f:
            f.write(big_idl(structs))
        args = [sys.executable, LRPC_GEN, "big.idl", "-o", "out"]
        for b in BACKENDS:
            args += ["--backend", b]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        r = subprocess.run(args, cwd=d, capture_output=True, text=True,
                           timeout=300)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if r.returncode != 0:
            raise AssertionError(r.stderr)
    return (after.ru_utime - before.ru_utime) + \
        (after.ru_stime - before.ru_stime)


class SpeedTest(unittest.TestCase):
    def test_20000_declarations_in_under_5_seconds(self) -> None:
        small = cpu_seconds(5000)
        large = cpu_seconds(20000)
        self.assertLess(large, 5.0, f"20000 structs: {large:.2f} s")
        # Linear: four times the input, about four times the time (less,
        # with the fixed start-up cost); quadratic would be sixteen.
        self.assertLess(large / small, 7.0,
                        f"5000: {small:.2f} s, 20000: {large:.2f} s")


if __name__ == "__main__":
    if "--curve" in sys.argv:
        print("| structs (+ methods) | CPU seconds |")
        print("|---|---|")
        for n in (2500, 5000, 10000, 20000, 40000):
            print(f"| {n} (+ {n // 10}) | {cpu_seconds(n):.1f} |")
        sys.exit(0)
    unittest.main()
