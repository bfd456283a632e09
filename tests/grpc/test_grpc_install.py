"""The gRPC gateway as installed (docs/remote.md, "Building").

This build is installed into a scratch DESTDIR; tests/grpc/external, a
module outside the tree, finds lrpc and lrpc-grpc-gateway there with
pkg-config, generates its code with the installed lrpc-gen and protoc,
and builds its own gateway program and a server.  Then the program runs
in both directions in front of that server (server <- export <- import)
and the installed lrpc tool calls the module through them: the reply and
the typed error arrive as from the server itself.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import unittest

from test_grpc_gateway import Proc, _need


def _rebase(pc: str, dest: str, out_dir: str) -> None:
    """Copy the .pc file @pc with its prefix moved under @dest (it names
    the final prefix, not the DESTDIR copy)."""
    with open(pc, encoding="utf-8") as f:
        lines = f.read().splitlines()
    with open(os.path.join(out_dir, os.path.basename(pc)), "w",
              encoding="utf-8") as f:
        for line in lines:
            if line.startswith("prefix="):
                line = "prefix=" + dest + line[len("prefix="):]
            f.write(line + "\n")


class InstallTest(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.mkdtemp(prefix="lrpc-grpc-install-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.procs = []
        self.addCleanup(self.stop_all)

    def stop_all(self) -> None:
        for p in reversed(self.procs):
            p.stop()

    def run_ok(self, argv, env=None, timeout=300) -> str:
        r = subprocess.run(argv, env=env, capture_output=True, text=True,
                           timeout=timeout)
        self.assertEqual(r.returncode, 0,
                         f"{' '.join(argv)}:\n{r.stdout}{r.stderr}")
        return r.stdout

    def start(self, argv, env, ready: str) -> Proc:
        p = Proc(argv, env)
        self.procs.append(p)
        p.ready_line = p.wait_for(ready, timeout=20)
        return p

    def test_out_of_tree_gateway(self) -> None:
        dest = os.path.join(self.tmp, "dest")
        self.run_ok(["meson", "install", "-C", _need("BUILD_ROOT"),
                     "--no-rebuild", "--destdir", dest, "--quiet"])
        pcs = {os.path.basename(p): p for p in
               glob.glob(os.path.join(dest, "**", "*.pc"), recursive=True)}
        for name in ("lrpc.pc", "lrpc-grpc-gateway.pc"):
            self.assertIn(name, pcs, "not installed")
        headers = glob.glob(os.path.join(dest, "**", "lrpc",
                                         "grpc-gateway.hh"), recursive=True)
        self.assertEqual(len(headers), 1, "lrpc/grpc-gateway.hh")
        pc_dir = os.path.join(self.tmp, "pc")
        os.mkdir(pc_dir)
        for name in ("lrpc.pc", "lrpc-grpc-gateway.pc"):
            _rebase(pcs[name], dest, pc_dir)
        libdir = os.path.dirname(os.path.dirname(pcs["lrpc.pc"]))
        env = dict(os.environ)
        env["PKG_CONFIG_PATH"] = pc_dir
        env["LD_LIBRARY_PATH"] = libdir + (
            ":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH")
            else "")
        # Whatever the build under test was made with, the outside
        # project is a plain build of its own.
        for var in ("CFLAGS", "CXXFLAGS", "LDFLAGS"):
            env.pop(var, None)
        build = os.path.join(self.tmp, "build")
        self.run_ok(["meson", "setup", build,
                     os.path.join(_need("SOURCE_ROOT"), "tests", "grpc",
                                  "external")], env=env)
        self.run_ok(["ninja", "-C", build], env=env)

        run = dict(env)
        run["LRPC_FORCE_FS_FILE"] = os.path.join(self.tmp, "force")
        run["LRPC_RUNTIME_DIR"] = os.path.join(self.tmp, "run")
        open(run["LRPC_FORCE_FS_FILE"], "w").close()
        os.mkdir(run["LRPC_RUNTIME_DIR"])
        gw = os.path.join(build, "greet-grpc-gateway")
        self.start([os.path.join(build, "greet-server"), "lrpc.test.greet"],
                   run, "serving")
        ex = self.start([gw, "export", "--service", "lrpc.test.greet",
                         "--listen", "127.0.0.1:0"], run, "on port")
        port = int(ex.ready_line.rsplit(" ", 1)[1])
        self.start([gw, "import", "--service", "lrpc.test.greet-imported",
                    "--connect", f"127.0.0.1:{port}"], run, "importing")
        tool = glob.glob(os.path.join(dest, "**", "bin", "lrpc"),
                         recursive=True)
        self.assertEqual(len(tool), 1, "the lrpc tool")
        out = self.run_ok([tool[0], "call", "lrpc.test.greet-imported",
                           "greet.Greeter.greet", '{"name": "world"}'],
                          env=run, timeout=30)
        self.assertIn('"hello, world"', out)
        r = subprocess.run([tool[0], "call", "lrpc.test.greet-imported",
                            "greet.Greeter.greet", '{"name": ""}'],
                           env=run, capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("greet.GreetError.EMPTY_NAME", r.stdout + r.stderr)
        for p in reversed(self.procs):
            self.assertEqual(p.stop(), 0, f"{p.argv[:2]}: {p.seen}")


if __name__ == "__main__":
    unittest.main()
