"""The lrpc-gen command line: exit codes, outputs, depfile, determinism."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from typing import List, Tuple

from idltest import DATA, LRPC_GEN, SOURCE_ROOT, run_gen
from lrpc_gen import __main__ as cli
from lrpc_gen import backends

GOOD = "module kv;\nstruct Entry { string key @0; }\n"
BAD = "module kv;\nstruct Entry { Nope key @0; }\n"


class CliTest(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir)
        self.out = os.path.join(self.dir, "out")
        os.mkdir(self.out)

    def write(self, name: str, text: str) -> str:
        path = os.path.join(self.dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def read(self, path: str) -> str:
        with open(path, encoding="utf-8") as f:
            return f.read()

    def main(self, *args: str) -> Tuple[int, str, str]:
        """Run the CLI in this process, capturing its output."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = cli.main(list(args))
        return rc, out.getvalue(), err.getvalue()

    def test_success_writes_model(self) -> None:
        idl = self.write("kv.idl", GOOD)
        r = run_gen([idl, "-o", self.out])
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""))
        self.assertEqual(os.listdir(self.out), ["kv.model"])
        self.assertIn("struct Entry", self.read(
            os.path.join(self.out, "kv.model")))

    def test_input_error_exit_1_and_no_output(self) -> None:
        idl = self.write("kv.idl", BAD)
        r = run_gen(["kv.idl", "-o", self.out], cwd=self.dir)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr,
                         "kv.idl:2:16: error: undefined type 'Nope'\n"
                         "struct Entry { Nope key @0; }\n"
                         "               ^\n")
        self.assertEqual(os.listdir(self.out), [])
        self.assertTrue(os.path.exists(idl))

    def test_failed_run_keeps_previous_output(self) -> None:
        idl = self.write("kv.idl", GOOD)
        self.assertEqual(run_gen([idl, "-o", self.out]).returncode, 0)
        before = self.read(os.path.join(self.out, "kv.model"))
        self.write("kv.idl", BAD)
        self.assertEqual(run_gen([idl, "-o", self.out]).returncode, 1)
        self.assertEqual(self.read(os.path.join(self.out, "kv.model")),
                         before)
        self.assertEqual(os.listdir(self.out), ["kv.model"])

    def test_missing_input(self) -> None:
        rc, _, err = self.main(os.path.join(self.dir, "nope.idl"))
        self.assertEqual(rc, 1)
        self.assertIn("cannot read", err)

    def test_missing_output_directory_is_created(self) -> None:
        idl = self.write("kv.idl", GOOD)
        out = os.path.join(self.dir, "new", "deeper")
        rc, _, err = self.main(idl, "-o", out)
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(os.listdir(out), ["kv.model"])

    def test_output_directory_not_created_on_error(self) -> None:
        idl = self.write("kv.idl", BAD)
        out = os.path.join(self.dir, "new")
        self.assertEqual(self.main(idl, "-o", out)[0], 1)
        self.assertFalse(os.path.exists(out))

    def test_output_directory_that_cannot_be_made(self) -> None:
        idl = self.write("kv.idl", GOOD)
        self.write("file", "")
        rc, _, err = self.main(idl, "-o", os.path.join(self.dir, "file"))
        self.assertEqual(rc, 1)
        self.assertIn("cannot create output directory", err)
        self.assertNotIn("Traceback", err)

    def test_input_must_end_in_idl(self) -> None:
        for name in ("kv.txt", "kv.idl.bak", "kv"):
            with self.subTest(name=name):
                path = self.write(name, GOOD)
                rc, _, err = self.main(path, "-o", self.out)
                self.assertEqual(rc, 1)
                self.assertEqual(err, f"lrpc-gen: error: input file "
                                      f"'{path}' must end in '.idl'\n")
                self.assertEqual(os.listdir(self.out), [])

    def test_input_file_name_must_be_safe_in_c(self) -> None:
        """The name appears in #include lines, strings and comments of the
        generated code, where some characters cannot be escaped."""
        for name in ('a"b.idl', "a\\b.idl", "a%d.idl", "a??-.idl",
                     "a\nb.idl", "a*b.idl"):
            with self.subTest(name=name):
                path = self.write(name, GOOD)
                rc, _, err = self.main(path, "-o", self.out)
                self.assertEqual(rc, 1)
                self.assertIn("may only have letters, digits", err)
                self.assertEqual(os.listdir(self.out), [])
        for name in ("my kv.idl", "kv-2.0_b+c.idl", "d\u00e9j\u00e0.idl"):
            with self.subTest(name=name):
                path = self.write(name, GOOD)
                self.assertEqual(self.main(path, "-o", self.out)[0], 0)

    def test_input_that_is_not_a_file(self) -> None:
        os.mkdir(os.path.join(self.dir, "dir.idl"))
        os.mkfifo(os.path.join(self.dir, "fifo.idl"))
        for name, kind in (("dir.idl", "directory"), ("fifo.idl", "FIFO")):
            with self.subTest(name=name):
                rc, _, err = self.main(os.path.join(self.dir, name))
                self.assertEqual(rc, 1)
                self.assertIn(f"it is a {kind}", err)

    def test_import_that_is_a_directory_or_fifo(self) -> None:
        """Named as what it is, not "cannot find"; a FIFO is never
        opened (that would block)."""
        os.mkdir(os.path.join(self.dir, "dir.idl"))
        os.mkfifo(os.path.join(self.dir, "fifo.idl"))
        for name, kind in (("dir.idl", "directory"), ("fifo.idl", "FIFO")):
            with self.subTest(name=name):
                self.write("kv.idl", f'module kv;\nimport "{name}";\n')
                r = run_gen(["kv.idl", "-o", self.out], cwd=self.dir)
                self.assertEqual(r.returncode, 1)
                self.assertEqual(r.stderr.splitlines()[0],
                                 f"kv.idl:2:8: error: imported file "
                                 f"'{name}' is a {kind}, not a file: "
                                 f"'{name}'")

    def test_usage_errors_exit_2(self) -> None:
        rc, _, err = self.main("--backend", "nonsense", "x.idl")
        self.assertEqual(rc, 2)
        self.assertIn("usage:", err)
        rc, _, _ = self.main()
        self.assertEqual(rc, 2)

    def test_help_exits_0(self) -> None:
        rc, out, _ = self.main("--help")
        self.assertEqual(rc, 0)
        self.assertIn("--depfile", out)

    def test_internal_error_is_not_a_traceback(self) -> None:
        idl = self.write("kv.idl", GOOD)
        original = backends.BACKENDS.copy()
        self.addCleanup(backends.BACKENDS.update, original)
        backends.BACKENDS["model"] = "no_such_module_here"
        rc, _, err = self.main(idl, "-o", self.out)
        self.assertEqual(rc, 3)
        self.assertTrue(err.startswith("lrpc-gen: internal error: "), err)
        self.assertNotIn("Traceback", err)
        self.assertEqual(os.listdir(self.out), [])

    def test_deterministic_output(self) -> None:
        src = os.path.join(DATA, "types.idl")
        outputs: List[bytes] = []
        for i in range(2):
            out = os.path.join(self.dir, f"run{i}")
            os.mkdir(out)
            r = run_gen([src, "-I", os.path.join(DATA, "inc"), "-o", out])
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(os.path.join(out, "types.model"), "rb") as f:
                outputs.append(f.read())
        self.assertEqual(outputs[0], outputs[1])

    def test_output_does_not_depend_on_directories(self) -> None:
        """The same input bytes in another place give the same bytes."""
        a = self.write("a/kv.idl", GOOD)
        b = self.write("b/c/kv.idl", GOOD)
        for idl, out in ((a, "oa"), (b, "ob")):
            os.mkdir(os.path.join(self.dir, out))
            r = run_gen(["kv.idl", "-o", os.path.join(self.dir, out)],
                        cwd=os.path.dirname(idl))
            self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.read(os.path.join(self.dir, "oa", "kv.model")),
                         self.read(os.path.join(self.dir, "ob", "kv.model")))

    def test_unchanged_output_is_not_rewritten(self) -> None:
        idl = self.write("kv.idl", GOOD)
        model = os.path.join(self.out, "kv.model")
        self.assertEqual(self.main(idl, "-o", self.out)[0], 0)
        old = 1_000_000_000
        os.utime(model, (old, old))
        inode = os.stat(model).st_ino
        self.assertEqual(self.main(idl, "-o", self.out)[0], 0)
        self.assertEqual(os.stat(model).st_mtime, old)
        self.assertEqual(os.stat(model).st_ino, inode)
        # A real change is written.
        self.write("kv.idl", GOOD.replace("key", "name"))
        self.assertEqual(self.main(idl, "-o", self.out)[0], 0)
        self.assertNotEqual(os.stat(model).st_mtime, old)
        self.assertIn("name", self.read(model))

    def test_no_temporary_files_left(self) -> None:
        idl = self.write("kv.idl", GOOD)
        for _ in range(2):
            self.assertEqual(self.main(idl, "-o", self.out)[0], 0)
        self.assertEqual(os.listdir(self.out), ["kv.model"])

    def test_written_file_mode_follows_umask(self) -> None:
        idl = self.write("kv.idl", GOOD)
        old = os.umask(0o022)
        self.addCleanup(os.umask, old)
        self.assertEqual(self.main(idl, "-o", self.out)[0], 0)
        mode = os.stat(os.path.join(self.out, "kv.model")).st_mode
        self.assertEqual(mode & 0o777, 0o644)

    def test_depfile(self) -> None:
        self.write("inc/common.idl", "module common; struct T { }\n")
        idl = self.write("kv.idl", 'module kv;\nimport "common.idl";\n'
                                   "struct Entry { common.T t @0; }\n")
        dep = os.path.join(self.dir, "kv.d")
        rc, _, err = self.main(idl, "-I", os.path.join(self.dir, "inc"),
                               "-o", self.out, "--depfile", dep)
        self.assertEqual(rc, 0, err)
        text = self.read(dep)
        lines = text.split(" \\\n")
        self.assertEqual(lines[0], os.path.join(self.out, "kv.model") + ":")
        deps = [x.strip() for x in lines[1:]]
        self.assertEqual(deps[:2], [os.path.join(self.dir, "inc",
                                                 "common.idl"),
                                    os.path.join(self.dir, "kv.idl")])
        pkg = os.path.join(SOURCE_ROOT, "codegen", "lrpc_gen")
        for name in ("__main__.py", "check.py", "parser.py",
                     os.path.join("backends", "model_dump.py"),
                     os.path.join("templates", "_macros.j2")):
            self.assertIn(os.path.join(pkg, name), deps)
        self.assertFalse(any("__pycache__" in d for d in deps))
        self.assertTrue(text.endswith("\n"))

    def test_depfile_escapes_spaces(self) -> None:
        self.assertEqual(cli.depfile_text(["out dir/a.model"],
                                          ["/x y/a.idl", "/p$q#r"]),
                         "out\\ dir/a.model: \\\n /x\\ y/a.idl \\\n"
                         " /p$$q\\#r\n")

    def test_depfile_not_written_on_error(self) -> None:
        idl = self.write("kv.idl", BAD)
        dep = os.path.join(self.dir, "kv.d")
        self.assertEqual(self.main(idl, "-o", self.out, "--depfile",
                                   dep)[0], 1)
        self.assertFalse(os.path.exists(dep))

    def test_wrapper_is_executable_and_runs_from_anywhere(self) -> None:
        wrapper = os.path.join(SOURCE_ROOT, "codegen", "lrpc-gen")
        self.assertTrue(os.access(wrapper, os.X_OK))
        idl = self.write("kv.idl", GOOD)
        # run_gen does not set PYTHONPATH: the wrapper finds its package.
        env_path = os.environ.pop("PYTHONPATH", None)
        try:
            r = run_gen([idl, "-o", self.out], cwd="/")
        finally:
            if env_path is not None:
                os.environ["PYTHONPATH"] = env_path
        self.assertEqual(r.returncode, 0, r.stderr)

    def version_line(self) -> str:
        with open(os.path.join(SOURCE_ROOT, "VERSION"),
                  encoding="utf-8") as f:
            return f"lrpc-gen {f.read().strip()}\n"

    def run_version(self, cmd: List[str], cwd: str = "/", **env: str
                    ) -> None:
        """``cmd --version`` from ``cwd`` prints the VERSION file."""
        full_env = {k: v for k, v in os.environ.items()
                    if k != "PYTHONPATH"}
        full_env.update(env)
        r = subprocess.run([*cmd, "--version"], cwd=cwd, env=full_env,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual((r.returncode, r.stdout, r.stderr),
                         (0, self.version_line(), ""))

    def test_version(self) -> None:
        self.assertEqual(self.main("--version"),
                         (0, self.version_line(), ""))

    def test_version_file_unreadable(self) -> None:
        from unittest import mock
        missing = os.path.join(self.dir, "VERSION")
        with mock.patch.object(cli, "VERSION_FILE", missing):
            rc, out, err = self.main("--version")
        self.assertEqual((rc, out), (cli.EXIT_INTERNAL, ""))
        self.assertEqual(err, f"lrpc-gen: error: cannot read the version "
                              f"from '{missing}': No such file or "
                              f"directory\n")

    def test_version_is_the_project_version(self) -> None:
        meson_version = os.environ.get("LRPC_PROJECT_VERSION")
        if meson_version is None:
            self.skipTest("not run by meson test")
        self.assertEqual(self.version_line(),
                         f"lrpc-gen {meson_version}\n")

    def test_version_from_the_source_tree(self) -> None:
        self.run_version([sys.executable, LRPC_GEN])
        self.run_version([sys.executable, "-m", "lrpc_gen"],
                         PYTHONPATH=os.path.join(SOURCE_ROOT, "codegen"))

    def test_version_from_the_build_tree(self) -> None:
        built = os.environ.get("LRPC_GEN_BUILT")
        if built is None:
            self.skipTest("not run by meson test")
        self.run_version([built])

    def test_version_when_installed(self) -> None:
        """The layout codegen/meson.build installs, with the wrapper that
        configure-wrapper.py writes for it."""
        share = os.path.join(self.dir, "share", "lrpc")
        shutil.copytree(os.path.join(SOURCE_ROOT, "codegen", "lrpc_gen"),
                        os.path.join(share, "codegen", "lrpc_gen"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(os.path.join(SOURCE_ROOT, "VERSION"), share)
        os.mkdir(os.path.join(self.dir, "bin"))
        wrapper = os.path.join(self.dir, "bin", "lrpc-gen")
        codegen = os.path.join(SOURCE_ROOT, "codegen")
        subprocess.run([sys.executable,
                        os.path.join(codegen, "configure-wrapper.py"),
                        LRPC_GEN, wrapper, sys.executable], check=True,
                       timeout=60)
        self.run_version([wrapper])

    def test_every_backend_is_loadable(self) -> None:
        for name in backends.BACKENDS:
            mod = backends.load(name)
            self.assertTrue(callable(mod.generate))
            self.assertIsInstance(mod.DESCRIPTION, str)

    def test_template_environment(self) -> None:
        try:
            import jinja2  # noqa: F401
        except ImportError:
            self.skipTest("Jinja2 is not installed for this interpreter")
        env = backends.environment()
        text = env.from_string(
            '{% import "_macros.j2" as m %}{{ banner("kv.idl") }}\n'
            '{{ m.doc_comment(["Line one.", ""]) }}').render()
        self.assertEqual(text, "/* Generated by lrpc-gen from kv.idl. DO NOT"
                               " EDIT. */\n/**\n * Line one.\n *\n */\n")
        with self.assertRaises(jinja2.UndefinedError):
            env.from_string("{{ nothing }}").render()

    def test_templates_read_facts_not_class_names(self) -> None:
        """Templates branch on model facts such as ``kind``; the model's
        Python class names are free to change."""
        for name in sorted(os.listdir(backends.TEMPLATE_DIR)):
            with open(os.path.join(backends.TEMPLATE_DIR, name),
                      encoding="utf-8") as f:
                self.assertNotIn("__class__", f.read(), name)


if __name__ == "__main__":
    unittest.main()
