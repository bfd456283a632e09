# SPDX-License-Identifier: LGPL-2.1-or-later
"""The conventions checker itself fails when it should."""

import importlib.util
import os
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "conventions", os.path.join(HERE, "check-conventions.py"))
conv = importlib.util.module_from_spec(spec)
spec.loader.exec_module(conv)

GOOD = {"lrpc_client_new", "lrpc_client_ref", "lrpc_client_unref",
        "lrpc_version"}


def decl(syms):
    return "\n".join(f"LRPC_EXPORT int {s}(void);" for s in syms)


def symbol_errors(syms):
    errors = []
    # Loop-integration completeness is checked separately below.
    full = set(syms)
    for obj in ["server", "client", "rpc_client"]:
        full |= {f"lrpc_{obj}_{n}" for n in conv.LOOP_NAMES}
    full |= {"lrpc_server_new", "lrpc_rpc_client_new"}
    conv.check_symbols(full, decl(full), errors)
    return errors


class SymbolTest(unittest.TestCase):
    def test_good_names_pass(self):
        self.assertEqual(symbol_errors(GOOD), [])

    def test_replaced_words_fail(self):
        for bad in ["lrpc_client_dispatch", "lrpc_conn_disconnect",
                    "lrpc_client_abort", "lrpc_rpc_client_free",
                    "lrpc_rpc_serve"]:
            with self.subTest(bad=bad):
                self.assertTrue(symbol_errors(GOOD | {bad}))

    def test_unknown_object_and_verb_fail(self):
        self.assertTrue(symbol_errors(GOOD | {"lrpc_thing_new"}))
        self.assertTrue(symbol_errors(GOOD | {"lrpc_client_frobnicate"}))
        self.assertTrue(symbol_errors(GOOD | {"lrpc_client_fd_get"}))
        self.assertTrue(symbol_errors(GOOD | {"qb_ipcc_connect"}))

    def test_ref_without_unref_fails(self):
        self.assertTrue(symbol_errors({"lrpc_client_new",
                                       "lrpc_client_ref"}))

    def test_undeclared_export_fails(self):
        errors = []
        conv.check_symbols({"lrpc_version"}, "", errors)
        self.assertTrue(errors)

    def test_missing_loop_name_fails(self):
        errors = []
        syms = set(GOOD) | {"lrpc_server_new", "lrpc_rpc_client_new"}
        for obj in ["server", "client", "rpc_client"]:
            syms |= {f"lrpc_{obj}_{n}" for n in conv.LOOP_NAMES}
        syms.discard("lrpc_client_set_poll")
        conv.check_symbols(syms, decl(syms), errors)
        self.assertTrue(any("set_poll" in e for e in errors))


class TimeTest(unittest.TestCase):
    def errors(self, text):
        errors = []
        conv.check_time({"x.h": text}, errors)
        return errors

    def test_usec_passes_and_ms_fails(self):
        self.assertEqual(self.errors("int f(uint64_t timeout_usec);\n"
                                     "/* int timeout_ms; */\n"), [])
        self.assertTrue(self.errors("int f(int timeout_ms);"))
        self.assertTrue(self.errors("struct o { uint32_t stall_timeout_ms; };"))
        self.assertTrue(self.errors("int f(uint32_t deadline_usec);"))


class TreeTest(unittest.TestCase):
    def test_seam_and_sizes(self):
        with tempfile.TemporaryDirectory() as root:
            os.makedirs(os.path.join(root, "runtime/rpc"))
            with open(os.path.join(root, "runtime/rpc/a.c"), "w") as f:
                f.write('#include "ipc/ipc-seam.h"\n'
                        '#include "ipc/ipc-internal.h"\n')
                f.write("int\nlong_one(void)\n{\n" + "\tx;\n" * 90 + "}\n")
                f.write("/* long: one table, read whole */\nint\n"
                        "allowed(void)\n{\n" + "\tx;\n" * 90 + "}\n")
            errors = []
            conv.check_seam(root, errors)
            conv.check_sizes(root, errors)
            self.assertEqual(len(errors), 2, errors)
            self.assertIn("ipc/ipc-internal.h", errors[0])
            self.assertIn("long_one", errors[1])


if __name__ == "__main__":
    unittest.main()
