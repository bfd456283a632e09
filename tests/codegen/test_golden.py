"""Golden tests: data/<case>.idl -> <case>.model, bad-*.idl -> .err.

Run with --update-golden (or LRPC_UPDATE_GOLDEN=1) to rewrite the expected
files after an intended change; review the diff before committing it.
"""

from __future__ import annotations

import os
import sys
import tempfile
import unittest

from idltest import DATA, SOURCE_ROOT, run_gen

UPDATE = os.environ.get("LRPC_UPDATE_GOLDEN") == "1"


def _cases(bad: bool):
    for name in sorted(os.listdir(DATA)):
        if name.endswith(".idl") and name.startswith("bad-") == bad:
            yield name[:-4]


class GoldenTest(unittest.TestCase):
    maxDiff = None

    def compare(self, expected_path: str, actual: str) -> None:
        if UPDATE:
            with open(expected_path, "w", encoding="utf-8") as f:
                f.write(actual)
            return
        self.assertTrue(os.path.exists(expected_path),
                        f"{expected_path} is missing; run with "
                        f"--update-golden")
        with open(expected_path, encoding="utf-8") as f:
            self.assertEqual(f.read(), actual)

    def test_good_cases(self) -> None:
        cases = list(_cases(bad=False))
        self.assertGreaterEqual(len(cases), 5)
        for case in cases:
            with self.subTest(case=case), \
                    tempfile.TemporaryDirectory() as out:
                r = run_gen([f"{case}.idl", "-I", "inc", "--backend",
                             "model", "-o", out], cwd=DATA)
                self.assertEqual(r.stderr, "")
                self.assertEqual(r.returncode, 0)
                with open(os.path.join(out, f"{case}.model"),
                          encoding="utf-8") as f:
                    actual = f.read()
                self.compare(os.path.join(DATA, f"{case}.model"), actual)

    def test_bad_cases(self) -> None:
        cases = list(_cases(bad=True))
        self.assertGreaterEqual(len(cases), 15)
        for case in cases:
            with self.subTest(case=case), \
                    tempfile.TemporaryDirectory() as out:
                r = run_gen([f"{case}.idl", "-I", "inc", "-o", out],
                            cwd=DATA)
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertEqual(os.listdir(out), [])
                self.assertNotIn("Traceback", r.stderr)
                self.assertRegex(r.stderr, r"^\S+:\d+:\d+: error: ")
                self.compare(os.path.join(DATA, f"{case}.err"), r.stderr)

    def test_shipped_idl_files_compile(self) -> None:
        """The IDL files under idl/ stay valid as the language evolves."""
        root = os.path.join(SOURCE_ROOT, "idl")
        found = 0
        for dirpath, _, files in sorted(os.walk(root)):
            for name in sorted(files):
                if not name.endswith(".idl"):
                    continue
                found += 1
                with self.subTest(file=name), \
                        tempfile.TemporaryDirectory() as out:
                    r = run_gen([name, "-o", out], cwd=dirpath)
                    self.assertEqual((r.returncode, r.stderr), (0, ""))
        self.assertGreater(found, 0)

    def test_no_stale_golden_files(self) -> None:
        """Every expected file belongs to a case, so none rots unseen."""
        for name in os.listdir(DATA):
            stem, ext = os.path.splitext(name)
            if ext in (".model", ".err"):
                self.assertTrue(
                    os.path.exists(os.path.join(DATA, stem + ".idl")), name)


if __name__ == "__main__":
    if "--update-golden" in sys.argv:
        sys.argv.remove("--update-golden")
        UPDATE = True
    unittest.main()
