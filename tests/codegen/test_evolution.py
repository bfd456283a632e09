"""Evolution: the canonical form is the wire, and each rule of docs/idl.md
("Evolution rules") leaves the shared versions' hashes alone or changes
them, as documented."""

from __future__ import annotations

import unittest
from typing import Tuple

from idltest import check_text, errors


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

    def test_add_method_since(self) -> None:
        self.same_v1(v2(V1).replace("event note",
                                    "@since(2) drop(u8 x) @9;\n"
                                    "    event note"))

    def test_rename_is_free(self) -> None:
        new = (V1.replace("name", "title").replace("Item", "Thing")
               .replace("GREEN", "LIME").replace("find", "search"))
        self.assertEqual(hashes(V1), hashes(new))

    def test_enum_value_without_since_breaks(self) -> None:
        self.assertNotEqual(hashes(V1)[0], hashes(v2(V1).replace(
            "GREEN = 1", "GREEN = 1, BLUE = 2"))[0])

    def test_field_without_since_breaks(self) -> None:
        self.assertNotEqual(hashes(V1)[0], hashes(v2(V1).replace(
            "u64 size @3;", "u64 size @3; u8 extra @4;"))[0])

    def test_retyped_field_breaks(self) -> None:
        self.assertNotEqual(hashes(V1)[0],
                            hashes(V1.replace("u64 size", "u32 size"))[0])


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


if __name__ == "__main__":
    unittest.main()
