"""Checker: AST -> model, one test (at least) per rule."""

from __future__ import annotations

import dataclasses
import unittest

from idltest import check_text, errors
from lrpc_gen import model as m
from lrpc_gen.hashing import fnv1a32
from lrpc_gen.naming import snake

STORE = """module kv;
const u32 MAX_KEY = 256;
enum Kind : u8 { PLAIN = 0, COUNTER = 1 }
struct Entry { string @max(MAX_KEY) key @0; bytes value @1; u64 version @2;
               Kind kind @3; @since(2) optional string owner @4; }
error KvError { NOT_FOUND = 1, TOO_LARGE = 2 }
interface Store @version(2) {
    get(string key) -> (Entry entry) raises KvError @0;
    put(string key, bytes value) -> (u64 version) @1;
    @since(2) oneway touch(string key) @2;
    list(string prefix, u32 limit) -> (Entry[] items) @3;
    event changed(string key, u64 version) @4;
}
"""


def only(text: str, **kw):
    """The single error for ``text`` as (line, col, message)."""
    errs = errors(text, **kw)
    assert len(errs) == 1, errs
    return errs[0]


def message(text: str, **kw) -> str:
    return only(text, **kw)[2]


def struct(body: str, extra: str = "") -> str:
    return f"module m;\n{extra}\nstruct S {{ {body} }}\n"


class ModelTest(unittest.TestCase):
    def setUp(self) -> None:
        model, diags = check_text(STORE)
        self.assertFalse(diags.items, diags.render())
        assert model is not None
        self.model = model
        self.mod = model.main

    def test_model_is_frozen(self) -> None:
        with self.assertRaises(dataclasses.FrozenInstanceError):
            self.mod.name = "x"          # type: ignore[misc]
        with self.assertRaises(dataclasses.FrozenInstanceError):
            self.mod.structs[0].fields[0].ordinal = 9   # type: ignore

    def test_c_names(self) -> None:
        self.assertEqual(self.mod.c_prefix, "kv_")
        self.assertEqual(self.mod.consts[0].c_name, "KV_MAX_KEY")
        self.assertEqual(self.mod.enums[0].members[1].c_name,
                         "KV_KIND_COUNTER")
        self.assertEqual(self.mod.errors[0].c_name, "kv_error")
        self.assertEqual(self.mod.errors[0].codes[0].c_name,
                         "KV_ERROR_NOT_FOUND")
        iface = self.mod.interfaces[0]
        self.assertEqual(iface.c_name, "kv_store")
        self.assertEqual(iface.names.handlers, "kv_store_handlers")
        get = iface.methods[0]
        self.assertEqual(get.names.function, "kv_store_get")
        self.assertEqual(get.names.async_function, "kv_store_get_async")
        self.assertEqual(get.names.since_macro,
                         "KV_STORE_GET_SINCE_VERSION")

    def test_collection_names(self) -> None:
        """One named C type per collection shape and module; bounds do not
        count, nested collections are named by their element's name."""
        model, diags = check_text(
            "module kv; import \"common.idl\";"
            "enum Kind : u8 { A = 0 } struct Entry { }"
            "struct S { Entry[] a @0; Entry[] @max(3) b @1; u32[][] c @2;"
            " u8[16] d @3; map<string, optional u32> e @4;"
            " map<Kind, Entry[]> f @5; common.Stamp[] g @6;"
            " string @max(4)[2][] h @7; }"
            "interface I { m(Entry[] x) -> (u32[][] y) @0; }",
            extra={"common.idl": "module common; struct Stamp { }"})
        assert model is not None, diags.render()
        self.assertEqual(
            [c.c_name for c in model.main.collections],
            ["kv_entry_list", "kv_u32_list", "kv_u32_list_list",
             "kv_u8_array16", "kv_string_opt_u32_map",
             "kv_kind_entry_list_map", "kv_common_stamp_list",
             "kv_string_array2", "kv_string_array2_list"])
        s = model.main.structs[1]
        self.assertEqual(s.fields[1].type,
                         m.Array(s.fields[0].type.element, None, 3,
                                 "kv_entry_list"))
        self.assertEqual(model.main.interfaces[0].methods[0]
                         .results[0].type.c_name, "kv_u32_list_list")
        # Each after what its C definition needs: the list of arrays
        # after the array, the struct after its member types.
        order = model.main.c_order
        self.assertLess(order.index("kv_string_array2"),
                        order.index("kv_string_array2_list"))
        self.assertLess(order.index("kv_kind"),
                        order.index("kv_kind_entry_list_map"))
        self.assertLess(order.index("kv_string_array2_list"),
                        order.index("kv_s"))

    def test_collection_names_are_reserved(self) -> None:
        self.assertEqual(
            message("module kv; struct U32List { } struct S { u32[] x @0; }"),
            "list type 'u32[]' would be named 'kv_u32_list' in C, which is "
            "already the C name of struct 'U32List'")
        self.assertEqual(
            message("module kv; struct S { u8[] kv_u8_list @0; }"),
            "field name 'kv_u8_list' is also the C name of list type 'u8[]'")
        self.assertEqual(
            message("module kv; enum Foo : u8 { X = 0 }"
                    "enum FooBar : u8 { X = 0 } struct Baz { }"
                    "struct BarBaz { } struct S { map<Foo, BarBaz> a @0;"
                    " map<FooBar, Baz> b @1; }"),
            "map type 'map<FooBar, Baz>' would be named "
            "'kv_foo_bar_baz_map' in C, which is already the C name of map "
            "type 'map<Foo, BarBaz>'")
        self.assertIn("the callback type of method 'Store.get'", message(
            "module kv; interface Store { get() @0; }"
            "struct StoreGetCompleteFn { }"))
        self.assertIn("the handler type of method 'Store.put'", message(
            "module kv; interface Store { oneway put() @0; }"
            "struct StorePutHandlerFn { }"))
        self.assertIn("the listener type of method 'Store.changed'", message(
            "module kv; interface Store { event changed() @0; }"
            "struct StoreChangedListenerFn { }"))

    def test_kinds_and_ordered_types(self) -> None:
        mod = self.mod
        self.assertEqual([d.kind for d in (mod.consts[0], mod.enums[0],
                                           mod.structs[0], mod.errors[0],
                                           mod.interfaces[0])],
                         ["constant", "enum", "struct", "error",
                          "interface"])
        model, _ = check_text("module m; enum E : u8 { A = 0 }"
                              "union U : u8 { S s @0; } struct S { E e @0; }")
        assert model is not None
        self.assertEqual([(d.kind, d.name)
                          for d in model.main.ordered_types],
                         [("enum", "E"), ("struct", "S"), ("union", "U")])
        self.assertEqual(model.main.type_order, ("E", "S", "U"))

    def test_type_order_puts_enums_before_their_users(self) -> None:
        # A C header must define an enum's typedef before a struct that
        # has a member of it, wherever the IDL declares the enum.
        model, _ = check_text("module m; struct S { E e @0; u8[] x @1; }"
                              "union U : u8 { E e @0; } enum E : u8 { A = 0 }")
        assert model is not None
        self.assertEqual(model.main.type_order, ("E", "S", "U"))

    def test_snake_case(self) -> None:
        for name, expected in [("KvError", "kv_error"),
                               ("HTTPServer", "http_server"),
                               ("getValue", "get_value"),
                               ("NOT_FOUND", "not_found"),
                               ("already_snake", "already_snake")]:
            self.assertEqual(snake(name), expected)

    def test_fields_and_methods_by_ordinal(self) -> None:
        model, _ = check_text("module m; struct S { u8 c @9; u8 a @1; }"
                              "interface I { b() @5; a() @2; }")
        assert model is not None
        self.assertEqual([f.name for f in model.main.structs[0].fields],
                         ["a", "c"])
        self.assertEqual([x.name for x in model.main.interfaces[0].methods],
                         ["a", "b"])

    def test_types_resolved(self) -> None:
        entry = self.mod.structs[0]
        types = [f.type for f in entry.fields]
        self.assertEqual(types[0], m.Primitive("string", 256))
        self.assertEqual(types[3], m.Ref("enum", "kv", "Kind", "kv_kind"))
        self.assertEqual(types[4], m.Optional_(m.Primitive("string")))
        self.assertEqual(entry.fields[4].since, 2)
        self.assertIs(self.model.lookup(types[3]), self.mod.enums[0])

    def test_interface_id_and_hashes(self) -> None:
        iface = self.mod.interfaces[0]
        self.assertEqual(iface.id, fnv1a32("kv.Store"))
        self.assertEqual(len(iface.hashes), 2)
        self.assertEqual(iface.hash, iface.hashes[1])
        # Version 1's canonical form leaves out what version 2 added.
        self.assertNotIn("oneway", iface.canonical[0])
        self.assertIn("oneway", iface.canonical[1])

    def test_hash_ignores_names_but_not_shapes(self) -> None:
        def hashes(text: str):
            model, diags = check_text(text)
            assert model is not None, diags.render()
            return model.main.interfaces[0].hashes
        base = hashes(STORE)
        renamed = STORE.replace("prefix", "start").replace("Entry", "Item")
        self.assertEqual(hashes(renamed), base)
        retyped = STORE.replace("u32 limit", "u64 limit")
        self.assertNotEqual(hashes(retyped), base)
        # A version 2 addition leaves the version 1 hash alone.
        grown = STORE.replace("event changed",
                              "@since(2) drop(string key) @9;\n"
                              "    event changed")
        self.assertEqual(hashes(grown)[0], base[0])
        self.assertNotEqual(hashes(grown)[1], base[1])

    def test_interface_id_collision_gives_no_model(self) -> None:
        from unittest import mock
        from lrpc_gen import build
        # Real FNV-1a collisions need unwieldy names; force one instead.
        with mock.patch.object(build, "fnv1a32", lambda text: 7):
            model, diags = check_text("module m;\ninterface A { }\n"
                                      "interface B { }\n")
        self.assertIsNone(model)
        self.assertEqual([(d.loc.line, d.loc.col, d.message)
                          for d in diags.sorted() if d.loc],
                         [(3, 11, "interface id 0x00000007 of 'm.B' "
                                  "collides with 'm.A'; rename one of "
                                  "them")])

    def test_fnv1a32(self) -> None:
        # Published FNV-1a test vectors.
        self.assertEqual(fnv1a32(""), 0x811C9DC5)
        self.assertEqual(fnv1a32("a"), 0xE40C292C)
        self.assertEqual(fnv1a32("foobar"), 0xBF9CF968)

    def test_depths_and_type_order(self) -> None:
        model, _ = check_text("module m; struct C { B b @0; }"
                              "struct B { A[] a @0; } struct A { u8 x @0; }"
                              "interface I { f(C c) @0; }")
        assert model is not None
        self.assertEqual(model.main.type_order, ("A", "B", "C"))
        self.assertEqual([s.depth for s in model.main.structs], [4, 3, 1])
        self.assertEqual(model.main.interfaces[0].methods[0].depth, 5)

    def test_since_defaults(self) -> None:
        iface = self.mod.interfaces[0]
        touch = iface.methods[2]
        self.assertEqual(touch.since, 2)
        self.assertEqual(touch.params[0].since, 2)
        self.assertEqual(iface.methods[0].since, 1)

    def test_imports(self) -> None:
        model, diags = check_text(
            'module a; import "dir/b.idl"; struct S { b.T t @0; }',
            extra={"dir/b.idl": "module b; struct T { u8 x @0; }"})
        assert model is not None, diags.render()
        self.assertEqual([x.name for x in model.modules], ["b", "a"])
        self.assertEqual(model.main.imports, ("b",))
        self.assertEqual(model.main.import_files, ("dir/b.idl",))
        self.assertEqual(model.main.structs[0].fields[0].type.c_name,
                         "b_t")

    def test_import_through_include_dir(self) -> None:
        model, diags = check_text(
            'module a; import "b.idl";',
            extra={"inc/b.idl": "module b;"}, include_dirs=["inc"])
        assert model is not None, diags.render()

    def test_import_of_the_same_file_twice_loads_it_once(self) -> None:
        model, diags = check_text(
            'module a; import "b.idl"; import "c.idl";',
            extra={"b.idl": 'module b; import "c.idl";',
                   "c.idl": "module c;"})
        assert model is not None, diags.render()
        self.assertEqual([x.name for x in model.modules], ["c", "b", "a"])


class RuleTest(unittest.TestCase):
    """One test per checker rule (and the messages they give)."""

    def test_missing_module(self) -> None:
        self.assertEqual(only("struct S { u8 x @0; }"),
                         (1, 1, "missing module declaration; a file must "
                                "start with 'module NAME;'"))

    def test_module_name_must_be_lower_case(self) -> None:
        self.assertIn("must be lower case", message("module Kv;"))
        self.assertIn("must be lower case", message("module a__b;"))

    def test_undefined_type(self) -> None:
        self.assertEqual(only(struct("Entri e @0;")),
                         (3, 12, "undefined type 'Entri'"))

    def test_undefined_constant(self) -> None:
        self.assertEqual(message(struct("u8[NOPE] e @0;")),
                         "undefined constant 'NOPE'")

    def test_unknown_module(self) -> None:
        self.assertEqual(message(struct("x.T e @0;")),
                         "unknown module 'x' (is it imported?)")

    def test_imported_names_need_qualifying(self) -> None:
        self.assertEqual(
            message(struct("T e @0;", 'import "b.idl";'),
                    extra={"b.idl": "module b; struct T { u8 x @0; }"}),
            "undefined type 'T'; did you mean 'b.T'?")

    def test_own_module_may_qualify(self) -> None:
        model, _ = check_text("module m; struct T { u8 x @0; }"
                              "struct S { m.T t @0; }")
        self.assertIsNotNone(model)

    def test_duplicate_declaration(self) -> None:
        errs = errors("module m; struct A { } enum A : u8 { X = 0 }")
        self.assertEqual(errs, [(1, 29, "duplicate name 'A'")])

    def test_duplicate_field(self) -> None:
        self.assertEqual(message(struct("u8 a @0; u8 a @1;")),
                         "duplicate field name 'a'")

    def test_duplicate_enumerator_and_error_code(self) -> None:
        self.assertEqual(message("module m; enum E : u8 { A = 0, A = 1 }"),
                         "duplicate enumerator name 'A'")
        self.assertEqual(message("module m; error E { A = 1, A = 2 }"),
                         "duplicate error code name 'A'")

    def test_duplicate_method_and_parameter(self) -> None:
        self.assertEqual(message("module m; interface I { a() @0; a() @1; }"),
                         "duplicate method name 'a'")
        self.assertEqual(
            message("module m; interface I { a(u8 x) -> (u8 x) @0; }"),
            "duplicate parameter name 'x'")

    def test_names_equal_after_c_naming(self) -> None:
        self.assertEqual(message(struct("u8 keyName @0; u8 key_name @1;")),
                         "field names 'key_name' and 'keyName' both become "
                         "'key_name' in C")

    def test_global_c_name_collision(self) -> None:
        self.assertEqual(
            message("module kv; struct KvEntry { } struct Entry { }"),
            "struct 'Entry' would be named 'kv_entry' in C, which is "
            "already the C name of struct 'KvEntry'")
        self.assertIn("'kv_store_get' in C",
                      message("module kv; struct StoreGet { }"
                              "interface Store { get() @0; }"))
        self.assertIn("'KV_A_B' in C",
                      message("module kv; const u8 A_B = 1;"
                              "enum A : u8 { B = 0 }"))

    def test_c_name_collision_across_modules(self) -> None:
        self.assertIn("would be named 'kv_store_x' in C", message(
            'module kv; import "b.idl"; struct StoreX { }',
            extra={"b.idl": "module kv_store; struct X { }"}))

    def test_duplicate_field_ordinal(self) -> None:
        self.assertEqual(only(struct("u8 a @1; u8 b @1;")),
                         (3, 27, "duplicate ordinal @1: field 'b' and 'a'"))

    def test_duplicate_method_ordinal(self) -> None:
        self.assertEqual(
            message("module m; interface I { a() @0; event b() @0; }"),
            "duplicate ordinal @0: method 'b' and 'a'")

    def test_missing_ordinal(self) -> None:
        self.assertEqual(message(struct("u8 a;")),
                         "field 'a' has no ordinal; add '@N' before the ';'")
        self.assertEqual(message("module m; interface I { a(); }"),
                         "method 'a' has no ordinal; add '@N' before the "
                         "';'")

    def test_ordinal_range(self) -> None:
        self.assertEqual(message(struct("u8 a @65536;")),
                         "ordinal @65536 of field 'a' is out of range "
                         "(0..65535)")

    def test_c_keyword(self) -> None:
        self.assertEqual(message(struct("u8 int @0;")),
                         "field name 'int' is a C keyword")
        self.assertEqual(message("module m; struct float { }"),
                         "struct name 'float' is a C keyword")
        self.assertEqual(message(struct("u8 Int @0;")),
                         "field name 'Int' becomes 'int' in C, which is "
                         "reserved there")

    def test_cpp_keyword(self) -> None:
        self.assertEqual(message(struct("u8 class @0;")),
                         "field name 'class' is a C++ keyword")
        self.assertEqual(
            message("module m; interface I { a(u8 new) @0; }"),
            "parameter name 'new' is a C++ keyword")

    def test_method_names_may_be_keywords(self) -> None:
        model, diags = check_text("module m; interface I { delete() @0;"
                                  " default() @1; }")
        assert model is not None, diags.render()
        members = [x.names.member for x in model.main.interfaces[0].methods]
        self.assertEqual(members, ["delete_", "default_"])

    def test_reserved_prefixes(self) -> None:
        for name, why in [("_x", "'_'"), ("lrpcThing", "'lrpc'"),
                          ("LRPC_X", "'lrpc'"), ("a__b", "'__'")]:
            with self.subTest(name=name):
                self.assertIn(why, message(struct(f"u8 {name} @0;")))

    def test_reserved_words_as_type_names(self) -> None:
        self.assertEqual(message("module m; struct u8 { }"),
                         "struct name 'u8' is a built-in type name")
        self.assertEqual(message("module m; struct optional { }"),
                         "struct name 'optional' is an IDL keyword")

    def test_c_library_macros(self) -> None:
        self.assertEqual(message(struct("u8 errno @0;")),
                         "field name 'errno' is a macro of the C library")

    def test_parameter_names_used_by_stubs(self) -> None:
        self.assertEqual(
            message("module m; interface I { a(u8 arena) @0; }"),
            "parameter name 'arena' is used by the generated C functions")

    def test_union_tag_macros_are_reserved(self) -> None:
        self.assertEqual(
            message("module kv; const u8 VALUE_DATA = 1;"
                    "union Value : u8 { u32 data @0; }"),
            "union case 'Value.data' needs 'KV_VALUE_DATA' in C for its tag "
            "macro, which is already the C name of constant 'VALUE_DATA'")
        self.assertEqual(
            message("module kv; union Value : u8 { u32 data @0; }"
                    "const u8 VALUE_DATA = 1;"),
            "constant 'VALUE_DATA' would be named 'KV_VALUE_DATA' in C, "
            "which is already used as the tag macro of union case "
            "'Value.data'")
        self.assertIn("tag macro", message(
            "module kv; enum ValueKind : u8 { TEXT = 0 }"
            "union Value : u8 { u32 kindText @0; }"))

    def test_method_and_interface_macros_are_reserved(self) -> None:
        for macro, role in [("STORE_GET_SINCE_VERSION", "since-version"),
                            ("STORE_GET_ORDINAL", "ordinal")]:
            with self.subTest(macro=macro):
                self.assertEqual(
                    message(f"module kv; const u8 {macro} = 1;"
                            f"interface Store {{ get() @0; }}"),
                    f"method 'Store.get' needs 'KV_{macro}' in C for its "
                    f"{role} macro, which is already the C name of "
                    f"constant '{macro}'")
                self.assertEqual(
                    message(f"module kv; interface Store {{ get() @0; }}"
                            f"const u8 {macro} = 1;"),
                    f"constant '{macro}' would be named 'KV_{macro}' in C, "
                    f"which is already used as the {role} macro of method "
                    f"'Store.get'")
        self.assertIn("the version macro of interface 'Store'", message(
            "module kv; interface Store { } const u8 STORE_VERSION = 1;"))
        self.assertIn("the emit function of method 'Store.changed'", message(
            "module kv; interface Store { event changed() @0; }"
            "struct StoreEmitChanged { }"))

    def test_internal_names_are_reserved(self) -> None:
        # Only a name ending in '_' can reach them.
        self.assertEqual(
            message("module kv; interface Foo_ { interface() @0; }"
                    "interface Foo { }"),
            "interface 'Foo' needs 'kv_foo__interface' inside the "
            "generated C code, which is already the C name of method "
            "'Foo_.interface'")
        self.assertIn("used inside the generated code of struct 'Foo'",
                      message("module kv; struct Foo { }"
                              "interface Foo_ { type() @0; }"))
        self.assertIn("reserved for the descriptors of types without a "
                      "name", message("module kv; interface Kv_ { t0() @0; }"))

    def test_every_generated_name_is_reserved(self) -> None:
        """The checker reserves every C name the back ends can emit."""
        from lrpc_gen import naming
        mn = naming.Namer("kv").method("Store", "get")
        self.assertEqual(len(set(c for c, _ in mn.roles("call"))),
                         len(mn.roles("call")))
        self.assertIn("kv_store_get__rep__fields", mn.internal("call"))
        self.assertIn("kv_store_get__notify", mn.internal("event"))
        inames = naming.Namer("kv").interface("Store")
        self.assertIn("kv_store__listener", inames.internal())
        self.assertEqual(naming.case_macro("kv_value", "kindText"),
                         "KV_VALUE_KIND_TEXT")
        self.assertTrue(naming.ANON_DESC.fullmatch(naming.anon_desc("kv", 3)))

    def test_result_and_parameter_with_one_c_name(self) -> None:
        self.assertEqual(
            only("module m; interface I { a(u8 ret_x) -> (u8 x) @0; }"),
            (1, 44, "result 'x' (as 'ret_x') and parameter 'ret_x' are both "
                    "named 'ret_x' in the generated sync stub of 'I.a'"))
        self.assertEqual(
            message("module m; interface I { a() -> (u8 error) @0; }"),
            "result 'error' (as 'ret_error') collides with the parameter "
            "'ret_error' that the generated sync stub of 'I.a' has of its "
            "own")
        self.assertIn("both named 'ret_x'", message(
            "module m; interface I { a(u8 retX) -> (u8 x) @0; }"))
        # A duplicate is reported as such, once.
        self.assertEqual(
            message("module m; interface I { a(u8 x) -> (u8 x) @0; }"),
            "duplicate parameter name 'x'")

    def test_stub_parameter_lists(self) -> None:
        from lrpc_gen.naming import STUB_ARGS, stub_parameters
        lists = dict(stub_parameters("call", ["k"], ["v"]))
        self.assertEqual([c for c, _ in lists["sync stub"]],
                         ["client", "k", "ret_v", "arena", "timeout_usec",
                          "ret_error"])
        self.assertEqual(lists["reply function"], [("call", -1), ("v", 1)])
        for kind in ("call", "oneway", "event"):
            for _, names in stub_parameters(kind, ["p"], ["r"]):
                fixed = {c for c, i in names if i < 0}
                self.assertLessEqual(fixed, STUB_ARGS, kind)

    def test_names_of_stub_locals_are_allowed(self) -> None:
        model, diags = check_text(
            "module m; interface I { a(u8 r, u8 req, u8 rep) -> (u8 args) @0;"
            " event e(u8 args) @1; }")
        assert model is not None, diags.render()

    def test_fields_and_parameters_named_like_global_c_names(self) -> None:
        self.assertEqual(
            message("module kv; struct E { } interface I { a(E kv_e) @0; }"),
            "parameter name 'kv_e' is also the C name of struct 'E'")
        self.assertEqual(
            message("module kv; struct E { } struct S { E kvE @0; }"),
            "field name 'kvE', which becomes 'kv_e' in C, is also the C "
            "name of struct 'E'")
        self.assertEqual(
            message('module m; import "k.idl";'
                    'struct S { k.Kind kKind @0; }',
                    extra={"k.idl": "module k; enum Kind : u8 { A = 0 }"}),
            "field name 'kKind', which becomes 'k_kind' in C, is also the C "
            "name of enum 'Kind'")

    def test_c_library_names(self) -> None:
        self.assertEqual(
            message("module m; interface I { a(u8 memset) @0; }"),
            "parameter name 'memset' is a name of the C library the "
            "generated code uses")
        self.assertEqual(message(struct("u8 uint8_t @0;")),
                         "field name 'uint8_t' is a name of the C library "
                         "the generated code uses")

    def test_struct_cycle(self) -> None:
        self.assertEqual(
            message("module m; struct A { B b @0; } struct B { A a @0; }"),
            "recursive type: A -> B -> A; a type cannot contain itself, "
            "not even through optional, arrays or maps")

    def test_cycle_through_containers(self) -> None:
        for wrap in ["optional T", "T[]", "map<u8, T>", "optional T[]"]:
            with self.subTest(wrap=wrap):
                self.assertIn("recursive type: T -> T", message(
                    f"module m; struct T {{ {wrap} t @0; }}"))

    def test_cycle_through_union(self) -> None:
        self.assertIn("recursive type: U -> S -> U", message(
            "module m; union U : u8 { S s @0; } struct S { U u @0; }"))

    def test_struct_too_deep(self) -> None:
        arrays = "[]" * 32
        self.assertEqual(
            message(struct(f"u8{arrays} x @0;")),
            "struct 'S' nests 33 levels deep; the limit is 32")
        self.assertEqual(errors(struct(f"u8{'[]' * 31} x @0;")), [])

    def test_method_too_deep(self) -> None:
        self.assertEqual(
            message(f"module m; interface I {{ a(u8{'[]' * 32} x) @0; }}"),
            "the messages of 'I.a' nest 33 levels deep; the limit is 32")

    def test_since_above_interface_version(self) -> None:
        self.assertEqual(
            message("module m; interface I @version(2) {"
                    " @since(3) a() @0; }"),
            "'@since(3)' is above the version of interface 'I' (2)")
        self.assertEqual(
            message("module m; interface I { a(@since(2) u8 x) @0; }"),
            "'@since(2)' is above the version of interface 'I' (1)")

    def test_field_since_above_using_interface(self) -> None:
        self.assertEqual(
            only("module m;\nstruct S { @since(3) u8 x @0; }\n"
                 "struct T { S[] s @0; }\n"
                 "interface I @version(2) { a() -> (T t) @0; }\n"),
            (2, 25, "'S.x' is @since(3) but interface 'I', which uses "
                    "'S', is at version 2"))
        self.assertEqual(errors(
            "module m; struct S { @since(3) u8 x @0; }"
            "interface I @version(3) { a(S s) @0; }"), [])

    def test_parameter_since_order(self) -> None:
        self.assertIn("parameters added later must come last", message(
            "module m; interface I @version(2) {"
            " a(@since(2) u8 x, u8 y) @0; }"))
        self.assertIn("cannot be older", message(
            "module m; interface I @version(2) {"
            " @since(2) a(@since(1) u8 x) @0; }"))

    def test_enum_value_range(self) -> None:
        self.assertEqual(
            message("module m; enum E : u8 { A = 256 }"),
            "value 256 of enumerator 'A' is out of range for u8 (0..255)")
        self.assertIn("out of range for i64", message(
            "module m; enum E : i64 { A = 9223372036854775808 }"))

    def test_enum_duplicate_value(self) -> None:
        self.assertEqual(
            message("module m; enum E : u8 { A = 1, B = 1 }"),
            "enumerator 'B' repeats the value 1 of 'A'")

    def test_enum_needs_integer_type_and_values(self) -> None:
        self.assertIn("needs an underlying integer type",
                      message("module m; enum E { A = 0 }"))
        self.assertIn("must be an integer type, not 'f32'",
                      message("module m; enum E : f32 { A = 0 }"))
        self.assertIn("needs an explicit value",
                      message("module m; enum E : u8 { A }"))
        self.assertIn("has no enumerators",
                      message("module m; enum E : u8 { }"))

    def test_error_values_positive_and_unique(self) -> None:
        self.assertIn("out of range", message("module m; error E { A = 0 }"))
        self.assertIn("repeats the value 1",
                      message("module m; error E { A = 1, B = 1 }"))

    def test_array_size(self) -> None:
        self.assertEqual(message(struct("u8[0] a @0;")),
                         "array size must be at least 1, not 0")
        self.assertEqual(message(struct("u8[65537] a @0;")),
                         "array size 65537 is above the limit of 65536")
        self.assertEqual(errors(struct("u8[N] a @0;", "const u16 N = 8;")),
                         [])
        self.assertIn("array size must be an integer", message(
            struct("u8[N] a @0;", 'const string N = "x";')))

    def test_map_key_type(self) -> None:
        for key in ["f32", "bool", "bytes", "S2", "u8[]", "optional u8"]:
            with self.subTest(key=key):
                self.assertIn("map key must be an integer, string or enum",
                              message(struct(f"map<{key}, u8> m @0;",
                                             "struct S2 { }")))
        self.assertEqual(errors(struct(
            "map<E, u8> a @0; map<string @max(8), u8> b @1;",
            "enum E : u8 { A = 0 }")), [])

    def test_max_bound(self) -> None:
        self.assertIn("does not apply to the fixed-size array",
                      message(struct("u8[2] @max(1) a @0;")))
        self.assertIn("applies to string, bytes, T[] and map",
                      message(struct("u8 @max(1) a @0;")))
        self.assertIn("already has a '@max' bound",
                      message(struct("bytes @max(1) @max(2) a @0;")))
        self.assertIn("out of range",
                      message(struct("bytes @max(0) a @0;")))

    def test_const_values(self) -> None:
        self.assertEqual(message("module m; const u8 A = 256;"),
                         "value 256 is out of range for u8 (0..255)")
        self.assertEqual(message("module m; const i8 A = -129;"),
                         "value -129 is out of range for i8 (-128..127)")
        self.assertIn("needs an integer value",
                      message('module m; const u8 A = "x";'))
        self.assertIn("needs 'true' or 'false'",
                      message("module m; const bool A = 0;"))
        self.assertIn("needs a string value",
                      message("module m; const string A = 1;"))
        self.assertIn("must have an integer type, bool or string",
                      message("module m; const f64 A = 1;"))
        self.assertIn("cannot contain NUL",
                      message('module m; const string A = "\\0";'))

    def test_raises_must_name_errors(self) -> None:
        self.assertEqual(
            message("module m; struct S { } interface I {"
                    " a() raises S @0; }"),
            "'S' is a struct, not an error")
        self.assertEqual(
            message("module m; interface I { a() raises E @0; }"),
            "undefined error 'E'")

    def test_raised_codes_must_not_overlap(self) -> None:
        self.assertIn("share the value 1", message(
            "module m; error A { X = 1 } error B { Y = 1 }"
            "interface I { a() raises A, B @0; }"))

    def test_event_with_reply_or_raises(self) -> None:
        self.assertEqual(
            message("module m; interface I { event e() -> () @0; }"),
            "event 'e' cannot have a reply")
        self.assertEqual(
            message("module m; error E { X = 1 }"
                    "interface I { event e() raises E @0; }"),
            "event 'e' cannot raise errors")

    def test_oneway_with_reply_or_raises(self) -> None:
        self.assertEqual(
            message("module m; interface I { oneway o() -> (u8 x) @0; }"),
            "oneway method 'o' cannot have a reply")
        self.assertEqual(
            message("module m; error E { X = 1 }"
                    "interface I { oneway o() raises E @0; }"),
            "oneway method 'o' cannot raise errors")

    def test_streams(self) -> None:
        # Only a call may stream its results, and a stream has items.
        self.assertEqual(
            message("module m; interface I {"
                    " oneway o() -> stream (u8 x) @0; }"),
            "oneway method 'o' cannot stream results")
        self.assertEqual(
            message("module m; interface I {"
                    " event e() -> stream (u8 x) @0; }"),
            "event 'e' cannot stream results")
        self.assertEqual(
            message("module m; interface I { s() -> stream () @0; }"),
            "stream of 's' has no items: give it at least one result")
        # The handler's own parameter, and the async stub's.
        self.assertEqual(
            message("module m; interface I {"
                    " s(u8 stream) -> stream (u8 x) @0; }"),
            "parameter 'stream' collides with the parameter 'stream' that "
            "the generated handler of 'I.s' has of its own")
        self.assertEqual(
            message("module m; interface I {"
                    " s(u8 on_item) -> stream (u8 x) @0; }"),
            "parameter 'on_item' collides with the parameter 'on_item' "
            "that the generated async stub of 'I.s' has of its own")
        # "stream" stays a name everywhere else.
        model, diags = check_text(
            "module m; struct stream { u8 stream @0; }\n"
            "error E { X = 1 }\n"
            "interface I { stream(u8 stream) -> (u8 x) @0;\n"
            "  list() -> stream (stream s) raises E @1; }\n")
        self.assertIsNotNone(model, diags.render())
        kinds = [x.kind for x in model.main.interfaces[0].methods]
        self.assertEqual(kinds, ["call", "stream"])
        # No fds in a stream's items, at any depth.
        for items in ("fd f", "optional fd f", "S s", "S[] s"):
            self.assertEqual(
                message("module m; struct T { fd f @0; }\n"
                        "struct S { T t @0; }\n"
                        "interface I { s() -> stream (" + items +
                        ") @0; }"),
                "stream 's' cannot carry fds in its items: return them "
                "from a method that is not a stream")
        # Its generated names are reserved like a call's.
        self.assertIn("already used as the next function of method "
                      "'I.list'", message(
                          "module m; interface I { list() -> stream (u8 x)"
                          " @0; list_next() @1; }"))

    def test_attributes(self) -> None:
        self.assertEqual(message(struct("@color(1) u8 a @0;")),
                         "unknown attribute '@color'")
        self.assertEqual(message(struct("@version(1) u8 a @0;")),
                         "'@version' is not allowed on a field")
        self.assertEqual(message("module m; interface I @version(0) { }"),
                         "'@version(0)' is out of range (1..65535)")

    def test_union_rules(self) -> None:
        self.assertIn("needs a tag type",
                      message("module m; union U { u8 a @0; }"))
        self.assertIn("must be u8, u16 or u32",
                      message("module m; union U : i32 { u8 a @0; }"))
        self.assertIn("has no cases", message("module m; union U : u8 { }"))
        self.assertIn("out of range (0..255)",
                      message("module m; union U : u8 { u8 a @256; }"))

    def test_not_a_type(self) -> None:
        self.assertEqual(message(struct("E e @0;", "error E { X = 1 }")),
                         "'E' is an error, not a type")
        self.assertEqual(message(struct("C e @0;", "const u8 C = 1;")),
                         "'C' is a constant, not a type")

    def test_nested_optional(self) -> None:
        self.assertEqual(message(struct("optional optional u8 a @0;")),
                         "'optional optional' is not allowed")

    def test_import_cycle(self) -> None:
        self.assertEqual(
            errors('module a; import "b.idl";',
                   extra={"b.idl": 'module b; import "test.idl";'}),
            [(1, 18, "import cycle: test.idl -> b.idl -> test.idl")])

    def test_import_missing(self) -> None:
        self.assertEqual(message('module a; import "nope.idl";'),
                         "cannot find imported file 'nope.idl' "
                         "(looked in '.')")

    def test_import_needs_idl_suffix(self) -> None:
        self.assertIn("must end in '.idl'",
                      message('module a; import "nope.txt";'))

    def test_duplicate_module(self) -> None:
        self.assertEqual(
            message('module a; import "b.idl";',
                    extra={"b.idl": "module a;"}),
            "module 'a' is already declared in 'b.idl'")

    def test_errors_in_imported_files_name_that_file(self) -> None:
        _, diags = check_text('module a; import "b.idl";',
                              extra={"b.idl": "module b; struct S { X x @0;"
                                              " }"})
        self.assertEqual([str(d.loc) for d in diags.items], ["b.idl:1:22"])

    def test_invalid_utf8(self) -> None:
        from idltest import MemoryFileSystem
        from lrpc_gen.errors import Diagnostics
        from lrpc_gen.frontend import check
        fs = MemoryFileSystem({})
        fs.files["x.idl"] = b"module m;\n// \xff\n"
        diags = Diagnostics()
        self.assertIsNone(check("x.idl", [], fs, diags).model)
        self.assertEqual(diags.render(),
                         "x.idl:2:4: error: file is not valid UTF-8\n"
                         "// \ufffd\n   ^\n")

    def test_all_errors_are_collected(self) -> None:
        errs = errors("module m;\nstruct S { Nope a @0; u8 b @0; }\n"
                      "enum E : u8 { A = 300 }\n"
                      "interface I { @since(2) a() @0; }\n")
        self.assertEqual([(line, col) for line, col, _ in errs],
                         [(2, 12), (2, 29), (3, 19), (4, 15)])

    def test_rendering(self) -> None:
        _, diags = check_text(
            "module kv;\ninterface Store {\n"
            "    get(string key) -> (Entri entry) @0;\n}\n")
        self.assertEqual(diags.render(),
                         "test.idl:3:25: error: undefined type 'Entri'\n"
                         "    get(string key) -> (Entri entry) @0;\n"
                         "                        ^\n")

    def test_mutated_input_never_crashes(self) -> None:
        """Random edits of a valid file give diagnostics, never an
        exception (the CLI would turn one into an internal error)."""
        import os
        import random
        from idltest import DATA
        with open(os.path.join(DATA, "kv.idl"), encoding="utf-8") as f:
            base = f.read()
        with open(os.path.join(DATA, "inc", "common.idl"),
                  encoding="utf-8") as f:
            common = f.read()
        pieces = list("{}()[]<>;,@:.-=/\"*\n ") + [
            "optional ", "map<", "u8 ", "struct ", "@since(", "@max(",
            "0x", "99999999999999999999", "///", "event ", "oneway ",
            "raises ", "->", "Entry ", "common.", "Kind "]
        rng = random.Random(4)
        for _ in range(400):
            text = list(base)
            for _ in range(rng.randint(1, 4)):
                pos = rng.randrange(len(text))
                op = rng.random()
                if op < 0.4:
                    del text[pos:pos + rng.randint(1, 8)]
                elif op < 0.8:
                    text.insert(pos, rng.choice(pieces))
                else:
                    text[pos] = rng.choice(pieces)
            _, diags = check_text("".join(text),
                                  extra={"common.idl": common})
            diags.render()

    def test_caret_keeps_tabs(self) -> None:
        _, diags = check_text("module m;\nstruct S {\n\tNope x @0;\n}\n")
        self.assertTrue(diags.render().endswith("\tNope x @0;\n\t^\n"))


if __name__ == "__main__":
    unittest.main()
