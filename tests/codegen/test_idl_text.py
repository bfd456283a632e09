"""The IDL text embedded in generated tables (idl_text.py): every
interface's text stands alone, passes the checker, and hashes like the
original; imported names are copied in, renamed only when taken."""

from __future__ import annotations

import glob
import os
import unittest

from idltest import SOURCE_ROOT, MemoryFileSystem, check_text
from lrpc_gen.errors import Diagnostics
from lrpc_gen.frontend import check
from lrpc_gen.idl_text import interface_idl

from lrpc_gen.__main__ import OsFileSystem


def _idl_files():
    for pattern in ("idl/*.idl", "idl/example/*.idl",
                    "tests/integration/**/*.idl", "tests/bench/*.idl",
                    "tests/external/*.idl"):
        yield from sorted(glob.glob(os.path.join(SOURCE_ROOT, pattern),
                                    recursive=True))


class IdlTextTest(unittest.TestCase):
    maxDiff = None

    def assert_same(self, model, text: str) -> None:
        for iface in model.main.interfaces:
            out = interface_idl(model, model.main, iface)
            copy, diags = check_text(out)
            self.assertIsNotNone(copy, f"{iface.name}:\n{out}\n"
                                 + "\n".join(d.message for d in
                                             diags.sorted()))
            twin = [i for i in copy.main.interfaces
                    if i.name == iface.name][0]
            self.assertEqual(twin.id, iface.id)
            self.assertEqual(twin.hashes, iface.hashes, out)
            # Printing the copy gives the same text: nothing is lost.
            self.assertEqual(interface_idl(copy, copy.main, twin), out)

    def test_tree(self) -> None:
        n = 0
        for path in _idl_files():
            diags = Diagnostics()
            result = check(path, [os.path.dirname(path)], OsFileSystem(),
                           diags)
            if result.model is None or not result.model.main.interfaces:
                continue
            with self.subTest(path=os.path.relpath(path, SOURCE_ROOT)):
                self.assert_same(result.model, "")
                n += 1
        self.assertGreaterEqual(n, 8)

    def test_imported_name_taken(self) -> None:
        common = """module common;
            struct Origin { u32 pid @0; }
            error Oops { BAD = 1, }
        """
        model, diags = check_text("""module m;
            import "common.idl";
            const u32 N = 4;
            /// Local, and a name an imported type has too.
            struct Origin { string @max(N) who @0; }
            interface I @version(2) {
                a(Origin x, common.Origin y) -> (u8[N] z) raises common.Oops @0;
                @since(2) oneway b(u32 n) @1;
                c(u32 n, @since(2) bool more) @2;
            }
        """, extra={"common.idl": common})
        self.assertIsNotNone(model, [d.message for d in diags.sorted()])
        out = interface_idl(model, model.main, model.main.interfaces[0])
        self.assertIn("struct CommonOrigin {", out)
        self.assertIn("string @max(4) who @0;", out)
        self.assertIn("a(Origin x, CommonOrigin y) -> (u8[4] z) raises "
                      "Oops @0;", out)
        self.assertIn("@since(2) oneway b(u32 n) @1;", out)
        self.assertIn("c(u32 n, @since(2) bool more) @2;", out)
        self.assertNotIn("import \"", out)
        self.assert_same(model, "")

    def test_retired_and_deprecated(self) -> None:
        model, diags = check_text("""module m;
            struct S { u32 a @0; @removed u32 old @1; }
            interface I { @deprecated f(S s) @0; }
        """)
        self.assertIsNotNone(model, [d.message for d in diags.sorted()])
        out = interface_idl(model, model.main, model.main.interfaces[0])
        self.assertIn("    @removed u32 old @1;", out)
        self.assertIn("    @deprecated f(S s) @0;", out)
        self.assert_same(model, "")

    def test_access_shown(self) -> None:
        # Introspection shows who may call what, the interface's default
        # folded into each method.
        model, diags = check_text("""module m;
            interface I @access(owner) { f() @0; @access(root) g() @1;
                                         event e() @2; }
        """)
        self.assertIsNotNone(model, [d.message for d in diags.sorted()])
        out = interface_idl(model, model.main, model.main.interfaces[0])
        self.assertIn("    @access(owner) f() @0;", out)
        self.assertIn("    @access(root) g() @1;", out)
        self.assertIn("    event e() @2;", out)
        self.assert_same(model, "")

    def test_access_rules_shown(self) -> None:
        model, diags = check_text("""module m;
            interface I { @access(group: "wheel", uid: 7, owner) f() @0; }
        """)
        self.assertIsNotNone(model, [d.message for d in diags.sorted()])
        out = interface_idl(model, model.main, model.main.interfaces[0])
        self.assertIn('    @access(owner, uid: 7, group: "wheel") f() @0;',
                      out)
        self.assert_same(model, "")

    def test_builtin_module_name(self) -> None:
        # lrpc.Service's own module is the one name of lrpc's allowed.
        model, diags = check_text("module lrpc; interface Service { "
                                  "ping() @0; }")
        self.assertIsNotNone(model, [d.message for d in diags.sorted()])
        for name in ("lrpcx", "lrpc_x"):
            model, _ = check_text(f"module {name}; struct S {{ }}")
            self.assertIsNone(model, name)


if __name__ == "__main__":
    unittest.main()
