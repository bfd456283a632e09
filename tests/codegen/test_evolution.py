"""Evolution: the canonical form is the wire, and each rule of docs/idl.md
("Evolution rules") leaves the shared versions' hashes alone or changes
them, as documented."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import unittest
from typing import List, Tuple

from idltest import SOURCE_ROOT, check_text, errors, run_gen
from lrpc_gen.compat import check_compat
from lrpc_gen.errors import Diagnostics


def hashes(text: str) -> Tuple[int, ...]:
    model, diags = check_text(text)
    assert model is not None, diags.render()
    return model.main.interfaces[0].hashes


V1 = """module m;
enum Color : u8 { RED = 0, GREEN = 1 }
union Shape : u8 { u32 circle @1; }
struct Item { string name @0; Color color @2; u64 size @3; }
interface I {
    put(Item item) -> (Item echoed) @0;
    find(string name) -> (u32 count) @1;
    draw(Shape s) @2;
    event note(string text) @3;
}
"""


def v2(text: str) -> str:
    return text.replace("interface I {", "interface I @version(2) {")


class WireOrderTest(unittest.TestCase):
    def test_field_order_is_in_the_hash(self) -> None:
        # The same fields and ordinals, but x travels first in one and y
        # in the other (fields go by (since, ordinal)): the two must not
        # agree at version 2, or every call would swap the values.
        a = ("module m; struct P { u32 x @1; @since(2) u32 y @2; }\n"
             "interface I @version(2) { @since(2) f(P p) @0; }\n")
        b = ("module m; struct P { @since(2) u32 x @1; u32 y @2; }\n"
             "interface I @version(2) { @since(2) f(P p) @0; }\n")
        self.assertNotEqual(hashes(a)[1], hashes(b)[1])

    def test_parameter_versions_are_in_the_hash(self) -> None:
        a = ("module m; interface I @version(2) {\n"
             "    @since(2) f(u32 a, u32 b) @0; }\n")
        b = ("module m; interface I @version(2) {\n"
             "    f(u32 a, @since(2) u32 b) @0; }\n")
        self.assertNotEqual(hashes(a)[1], hashes(b)[1])

    def test_stream_is_in_the_hash(self) -> None:
        # The same results, once a reply and once a stream of items: a
        # client of one would misread every message of the other.
        a = "module m; interface I { f() -> (u32 x) @0; }\n"
        b = "module m; interface I { f() -> stream (u32 x) @0; }\n"
        self.assertNotEqual(hashes(a), hashes(b))
        model, _ = check_text(b)
        assert model is not None
        self.assertIn("@0 stream ()->(v1:u32)",
                      model.main.interfaces[0].canonical[0])

    def test_canonical_text_names_versions(self) -> None:
        model, _ = check_text(v2(V1).replace(
            "u64 size @3;", "u64 size @3; @since(2) u8 extra @1;"))
        assert model is not None
        v2text = model.main.interfaces[0].canonical[1]
        self.assertIn("struct{@0v1:string,@2v1:enum:u8{0,1},@3v1:u64,"
                      "@1v2:u8}", v2text)


class RulesTest(unittest.TestCase):
    """One case per rule: what version 1's hash does when version 2
    makes the change."""

    def same_v1(self, new: str) -> None:
        self.assertEqual(hashes(V1)[0], hashes(new)[0])

    def test_add_field_since(self) -> None:
        self.same_v1(v2(V1).replace("u64 size @3;",
                                    "u64 size @3; @since(2) u8 extra @1;"))

    def test_add_enum_value_since(self) -> None:
        new = v2(V1).replace("GREEN = 1", "GREEN = 1, @since(2) BLUE = 2")
        self.same_v1(new)
        self.assertIn("enum:u8{0,1,2}",
                      check_text(new)[0].main.interfaces[0].canonical[1])

    def test_add_union_case_since(self) -> None:
        self.same_v1(v2(V1).replace("u32 circle @1;",
                                    "u32 circle @1; @since(2) string t @2;"))

    def test_add_trailing_parameter_since(self) -> None:
        self.same_v1(v2(V1).replace("find(string name)",
                                    "find(string name, @since(2) bool x)"))

    def test_add_result_since(self) -> None:
        self.same_v1(v2(V1).replace("-> (u32 count)",
                                    "-> (u32 count, @since(2) u8 more)"))

    def test_add_method_since(self) -> None:
        self.same_v1(v2(V1).replace("event note",
                                    "@since(2) drop(u8 x) @9;\n"
                                    "    event note"))

    def test_rename_is_free(self) -> None:
        new = (V1.replace("name", "title").replace("Item", "Thing")
               .replace("GREEN", "LIME").replace("find", "search"))
        self.assertEqual(hashes(V1), hashes(new))

    def test_remove_field_keeps_hash(self) -> None:
        # A retired field keeps its place on the wire.
        self.assertEqual(hashes(V1), hashes(V1.replace(
            "u64 size @3;", "@removed u64 size @3;")))

    def test_deprecate_keeps_hash(self) -> None:
        self.assertEqual(hashes(V1), hashes(V1.replace(
            "find(string name)", "@deprecated find(string name)")))

    def test_enum_value_without_since_breaks(self) -> None:
        self.assertNotEqual(hashes(V1)[0], hashes(v2(V1).replace(
            "GREEN = 1", "GREEN = 1, BLUE = 2"))[0])

    def test_field_without_since_breaks(self) -> None:
        self.assertNotEqual(hashes(V1)[0], hashes(v2(V1).replace(
            "u64 size @3;", "u64 size @3; u8 extra @4;"))[0])

    def test_retyped_field_breaks(self) -> None:
        self.assertNotEqual(hashes(V1)[0],
                            hashes(V1.replace("u64 size", "u32 size"))[0])


class FlagAttributeTest(unittest.TestCase):
    def test_removed_only_on_struct_fields(self) -> None:
        self.assertIn("'@removed' is not allowed on a union case",
                      errors("module m; union U : u8 { @removed u8 a @1; "
                             "u8 b @2; }\n")[0][2])
        self.assertIn("'@removed' is not allowed on a parameter",
                      errors("module m; interface I { "
                             "f(@removed u8 a) @0; }\n")[0][2])
        self.assertIn("'@removed' takes no value",
                      errors("module m; struct S { @removed(2) u8 a @0; }"
                             "\n")[0][2])

    def test_removed_field_has_no_c_member(self) -> None:
        model, diags = check_text("module m; struct S { u8 a @0; "
                                  "@removed u32 b @1; }\n")
        assert model is not None, diags.render()
        self.assertEqual([f.removed for f in model.main.structs[0].fields],
                         [False, True])

    def test_deprecated_warns_callers(self) -> None:
        cc = shutil.which("cc")
        if not cc:
            self.skipTest("no C compiler")
        idl = ("module m;\ninterface I {\n    f(u32 x) @0;\n"
               "    @deprecated g(u32 x) @1;\n"
               "    @deprecated event e(u32 x) @2;\n}\n")
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "m.idl"), "w") as f:
                f.write(idl)
            r = run_gen(["m.idl", "--backend", "c-types", "--backend",
                         "c-client", "--backend", "c-server", "-o", d],
                        cwd=d)
            self.assertEqual(r.returncode, 0, r.stderr)

            def compile_call(call: str) -> subprocess.CompletedProcess:
                with open(os.path.join(d, "use.c"), "w") as f:
                    f.write('#include "m-client.h"\n#include "m-server.h"\n'
                            "int use(lrpc_rpc_client *c, lrpc_conn *k);\n"
                            "int use(lrpc_rpc_client *c, lrpc_conn *k)\n"
                            "{ (void)c; (void)k; return " + call + "; }\n")
                return subprocess.run(
                    [cc, "-std=gnu11", "-Wall", "-Werror", "-fsyntax-only",
                     "-I", os.path.join(SOURCE_ROOT, "include"), "-I", d,
                     os.path.join(d, "use.c")],
                    capture_output=True, text=True, timeout=60)
            self.assertEqual(compile_call("m_i_f(c, 1, 0, 0)").returncode,
                             0)
            for call in ("m_i_g(c, 1, 0, 0)", "m_i_emit_e(k, 1)"):
                r = compile_call(call)
                self.assertNotEqual(r.returncode, 0, call)
                self.assertIn("is deprecated", r.stderr)


class EmbeddedFormsTest(unittest.TestCase):
    def test_versions_that_add_nothing_share_their_form(self) -> None:
        # Every version's form is embedded for the negotiation's
        # diagnostics; a high version number must not copy it each time.
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "m.idl"), "w") as f:
                f.write("module m;\ninterface I @version(4000) {\n"
                        "    f(u32 x, string y) -> (u64 z) @0;\n"
                        "    @since(4000) g(u8 x) @1;\n}\n")
            r = run_gen(["m.idl", "--backend", "c-types", "-o", d], cwd=d)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(os.path.join(d, "m-types.c")) as f:
                text = f.read()
        # Two distinct forms (before and at version 4000), each once.
        self.assertEqual(text.count('"@0 call (v1:u32,v1:string)->(v1:u64)'
                                    ' raises{}'), 2)
        self.assertLess(len(text), 400_000)


class AccessAttributeTest(unittest.TestCase):
    def test_access_words(self) -> None:
        model, diags = check_text(
            "module m; interface I { @access(owner) f() @0;\n"
            "@access(root) oneway g() @1; h() @2; }\n")
        assert model is not None, diags.render()
        self.assertEqual([str(x.access)
                          for x in model.main.interfaces[0].methods],
                         ["owner", "root", ""])

    def test_access_rules(self) -> None:
        # Lists of rules, kept in one canonical order whatever the
        # source's (the IDL text and the C table show that order).
        model, diags = check_text(
            'module m; interface I {\n'
            '@access(group: "wheel", uid: 1000, owner, uid: 7, gid: 10) '
            'f() @0;\n@access(uid: 0) g() @1;\n'
            '@access(group: "adm", group: "_x-1.y") h() @2; }\n')
        assert model is not None, diags.render()
        got = [x.access for x in model.main.interfaces[0].methods]
        self.assertEqual([str(a) for a in got],
                         ['owner, uid: 7, uid: 1000, gid: 10, '
                          'group: "wheel"', 'uid: 0',
                          'group: "_x-1.y", group: "adm"'])
        self.assertEqual(got[0].uids, (7, 1000))
        self.assertEqual([a.word for a in got], ["root"] * 3)

    def test_access_rule_errors(self) -> None:
        cases = [
            ('@access(uid: -1)', "'uid: -1' is out of range"),
            ('@access(uid: 4294967295)', "is out of range (0..4294967294)"),
            ('@access(gid: "wheel")', "'gid' takes a number"),
            ('@access(group: wheel)', "a group is named by a string"),
            ('@access(group: "9lives")', "'9lives' is not a group name"),
            ('@access(group: "' + "a" * 33 + '")', "is not a group name"),
            ('@access(uid: 5, uid: 5)', "'uid: 5' is given twice"),
            ('@access(owner, owner)', "'owner' is given twice"),
            ('@access(root, uid: 5)', "'root' in '@access' means nobody "
                                      "but root"),
            ('@access(usr: 5)', "did you mean 'uid'"),
            ('@access(ownr)', "did you mean 'owner'"),
            ('@access()', "expected an attribute argument"),
        ]
        for attr, want in cases:
            with self.subTest(attr=attr):
                errs = errors("module m; interface I { " + attr +
                              " f() @0; }\n")
                self.assertTrue(errs, attr)
                self.assertIn(want, errs[0][2])

    def test_lists_only_where_they_mean_something(self) -> None:
        self.assertIn("'@since' takes one value",
                      errors("module m; interface I @version(3) { "
                             "@since(2, 3) f() @0; }\n")[0][2])
        self.assertIn("'@since' takes one value",
                      errors("module m; interface I @version(3) { "
                             "@since(v: 2) f() @0; }\n")[0][2])

    def test_access_refused_where_it_means_nothing(self) -> None:
        self.assertIn("'@access' takes owner, root, 'uid: N'",
                      errors("module m; interface I { @access(anyone) f() "
                             "@0; }\n")[0][2])
        self.assertIn("'@access' is not allowed on an event",
                      errors("module m; interface I { @access(root) event "
                             "e() @0; }\n")[0][2])
        self.assertIn("'@access' is not allowed on a field",
                      errors("module m; struct S { @access(root) u8 a @0; }"
                             "\n")[0][2])

    def test_access_on_the_interface(self) -> None:
        # The interface's word is every method's, unless a method has one.
        model, diags = check_text(
            "module m; interface I @access(owner) { f() @0;\n"
            "@access(root) g() @1; event e() @2; }\n")
        assert model is not None, diags.render()
        self.assertEqual([str(x.access)
                          for x in model.main.interfaces[0].methods],
                         ["owner", "root", ""])

    def test_access_keeps_the_hash(self) -> None:
        self.assertEqual(hashes(V1), hashes(V1.replace(
            "find(string name)", "@access(owner) find(string name)")))
        self.assertEqual(hashes(V1), hashes(V1.replace(
            "find(string name)",
            '@access(uid: 5, group: "wheel") find(string name)')))


class EnumSinceCheckTest(unittest.TestCase):
    def test_value_newer_than_interface(self) -> None:
        errs = errors("module m; enum E : u8 { A = 0, @since(3) B = 1 }\n"
                      "interface I @version(2) { f(E e) @0; }\n")
        self.assertEqual(len(errs), 1, errs)
        self.assertIn("'E.B' is @since(3) but interface 'I'", errs[0][2])

    def test_since_not_allowed_on_error_codes(self) -> None:
        errs = errors("module m; error Err { @since(2) A = 1 }\n")
        self.assertEqual(len(errs), 1, errs)
        self.assertIn("'@since' is not allowed on an error code",
                      errs[0][2])


def compat(old: str, new: str) -> List[Tuple[int, str]]:
    """(line in new, message) of each incompatibility of ``new``."""
    a, da = check_text(old)
    b, db = check_text(new)
    assert a is not None and b is not None, da.render() + db.render()
    diags = Diagnostics()
    check_compat(a, b, diags)
    return [(d.loc.line if d.loc else 0, d.message) for d in diags.sorted()]


class CompatTest(unittest.TestCase):
    """--check-compat: one case per rule, compatible and not."""

    def ok(self, new: str) -> None:
        self.assertEqual(compat(V1, new), [])

    def bad(self, new: str, line: int, *words: str) -> None:
        found = compat(V1, new)
        self.assertEqual(len(found), 1, found)
        self.assertEqual(found[0][0], line, found)
        for w in words:
            self.assertIn(w, found[0][1])

    def test_compatible_changes(self) -> None:
        self.ok(V1)
        self.ok(v2(V1).replace("u64 size @3;",
                               "u64 size @3; @since(2) u8 extra @1;"))
        self.ok(v2(V1).replace("GREEN = 1", "GREEN = 1, @since(2) BLUE = 2"))
        self.ok(v2(V1).replace("u32 circle @1;",
                               "u32 circle @1; @since(2) string t @2;"))
        self.ok(v2(V1).replace("find(string name)",
                               "find(string name, @since(2) bool x)"))
        self.ok(v2(V1).replace("event note", "@since(2) drop(u8 x) @9;\n"
                                             "    event note"))
        self.ok(V1.replace("name", "title").replace("Item", "Thing"))
        self.ok(V1.replace("u64 size @3;", "@removed u64 size @3;"))
        self.ok(V1.replace("draw(Shape s)", "@deprecated draw(Shape s)"))

    def test_field_added_without_since(self) -> None:
        self.bad(V1.replace("u64 size @3;", "u64 size @3; u8 extra @4;"),
                 4, "field 'Item.extra' (@4) was added to version 1")

    def test_field_removed(self) -> None:
        self.bad(V1.replace("u64 size @3;", ""), 4,
                 "field 'Item.size' (@3) was removed")

    def test_field_retyped(self) -> None:
        self.bad(V1.replace("u64 size", "u32 size"), 4,
                 "'Item.size' (@3) changed type from 'u64' to 'u32'")

    def test_enum_value_added_without_since(self) -> None:
        self.bad(V1.replace("GREEN = 1", "GREEN = 1, BLUE = 2"), 2,
                 "value 'Color.BLUE' = 2 was added to version 1")

    def test_enum_value_removed(self) -> None:
        self.bad(V1.replace(", GREEN = 1", ""), 2,
                 "value 1 ('GREEN') of 'Color' was removed")

    def test_union_case_added_without_since(self) -> None:
        self.bad(V1.replace("u32 circle @1;", "u32 circle @1; u8 dot @2;"),
                 3, "case 'Shape.dot' (@2) was added to version 1")

    def test_parameter_added_without_since(self) -> None:
        self.bad(V1.replace("find(string name)", "find(string name, u8 x)"),
                 7, "parameter 'x' of 'find' was added to version 1")

    def test_method_removed_and_retyped(self) -> None:
        self.bad(V1.replace("    draw(Shape s) @2;\n", ""), 5,
                 "method 'draw' (@2) was removed")
        self.bad(V1.replace("draw(Shape s) @2", "oneway draw(Shape s) @2"),
                 8, "'draw' changed from call to oneway")

    def test_call_became_a_stream(self) -> None:
        self.bad(V1.replace("find(string name) -> (u32 count)",
                            "find(string name) -> stream (u32 count)"),
                 7, "'find' changed from call to stream")

    def test_version_went_down(self) -> None:
        found = compat(v2(V1), V1)
        self.assertEqual(len(found), 1, found)
        self.assertIn("went down from version 2 to 1", found[0][1])

    def test_reordered_versions_of_fields(self) -> None:
        # The arrangement that once agreed on a hash and swapped values.
        a = ("module m; struct P { u32 x @1; @since(2) u32 y @2; }\n"
             "interface I @version(2) { @since(2) f(P p) @0; }\n")
        b = ("module m; struct P { @since(2) u32 x @1; u32 y @2; }\n"
             "interface I @version(2) { @since(2) f(P p) @0; }\n")
        found = compat(a, b)
        self.assertEqual([line for line, _ in found], [1, 1], found)
        self.assertIn("'P.x' (@1) moved from version 1 to 2", found[0][1]
                      + found[1][1])


class ApiFreezeTest(unittest.TestCase):
    """--freeze-api and --check-api through the command line."""

    def setUp(self) -> None:
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir)
        os.mkdir(os.path.join(self.dir, "common"))
        self.write("common/base.idl", "module base; struct B { u8 x @0; }\n")
        self.write("m.idl", V1.replace(
            "module m;", 'module m; import "common/base.idl";').replace(
            "u64 size @3;", "u64 size @3; base.B b @4;"))

    def write(self, name: str, text: str) -> None:
        with open(os.path.join(self.dir, name), "w") as f:
            f.write(text)

    def gen(self, *args: str):
        return run_gen(list(args), cwd=self.dir)

    def test_freeze_then_check(self) -> None:
        r = self.gen("--freeze-api", "api", "m.idl")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.isfile(
            os.path.join(self.dir, "api", "1", "common", "base.idl")))
        self.assertEqual(self.gen("--check-api", "api", "m.idl").returncode,
                         0)
        # A compatible version 2 passes and can be frozen in turn.
        with open(os.path.join(self.dir, "m.idl")) as f:
            text = f.read()
        self.write("m.idl", v2(text).replace(
            "GREEN = 1", "GREEN = 1, @since(2) BLUE = 2"))
        self.assertEqual(self.gen("--check-api", "api", "m.idl").returncode,
                         0)
        self.assertEqual(self.gen("--freeze-api", "api", "m.idl")
                         .returncode, 0)
        # Changing a frozen version fails, naming the place.
        with open(os.path.join(self.dir, "common", "base.idl"), "w") as f:
            f.write("module base; struct B { u16 x @0; }\n")
        r = self.gen("--check-api", "api", "m.idl")
        self.assertEqual(r.returncode, 1)
        self.assertIn("common/base.idl:1:29: error: incompatible with "
                      "version 1 of m.I: field 'B.x' (@0) changed type "
                      "from 'u8' to 'u16'", r.stderr)
        self.assertIn("api/1/common/base.idl:1:28: note", r.stderr)
        # And freezing refuses what is incompatible.
        self.assertEqual(self.gen("--freeze-api", "api", "m.idl")
                         .returncode, 1)

    def test_freeze_with_an_include_dir_inside(self) -> None:
        # The import is spelled as found through -I: the frozen copy must
        # resolve it the same way.
        os.mkdir(os.path.join(self.dir, "inc"))
        self.write("inc/dep.idl", "module dep; struct D { u8 x @0; }\n")
        self.write("n.idl", 'module n; import "dep.idl";\n'
                            "interface I { f(dep.D d) @0; }\n")
        r = self.gen("--freeze-api", "api", "-I", "inc", "n.idl")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.gen("--check-api", "api", "-I", "inc", "n.idl")
        self.assertEqual((r.returncode, r.stderr), (0, ""))

    def test_check_api_needs_a_frozen_version(self) -> None:
        r = self.gen("--check-api", "api", "m.idl")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no frozen API", r.stderr)


if __name__ == "__main__":
    unittest.main()
