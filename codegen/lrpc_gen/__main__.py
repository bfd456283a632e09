"""The ``lrpc-gen`` command line: the only module that touches files.

Exit status: 0 on success, 1 when the input has errors (all of them are
printed), 2 for bad usage, 3 for an internal error of the generator.
Outputs are written to a temporary file and renamed into place, and only
when their content changed, so a failed run never leaves a partial file
and an unchanged output keeps its timestamp.
"""

from __future__ import annotations

import argparse
import gc
import os
import stat
import sys
import tempfile
import traceback
from typing import Any, Dict, Iterable, List, Optional, Sequence

from . import backends
from .compat import check_compat
from .errors import Diagnostics
from .frontend import check
from .load import load

PROG = "lrpc-gen"
EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

# The project's version is kept in one place, the VERSION file at the top
# of the source tree, which meson's project() reads too.  The package sits
# two directories below it there (codegen/lrpc_gen), and codegen/meson.build
# installs VERSION at the same distance (share/lrpc/VERSION next to
# share/lrpc/codegen/lrpc_gen), so one path serves every layout.
VERSION_FILE = os.path.normpath(os.path.join(PACKAGE_DIR, os.pardir,
                                             os.pardir, "VERSION"))


class OsFileSystem:
    """``load.FileSystem`` over the real file system."""

    def read(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    def exists(self, path: str) -> bool:
        return os.path.isfile(path)

    def kind(self, path: str) -> Optional[str]:
        return file_kind(path)

    def canonical(self, path: str) -> str:
        return os.path.realpath(path)


def file_kind(path: str) -> Optional[str]:
    """None if nothing is at ``path``, "file" for a regular file (after
    symbolic links), else what it is: never opened, since reading a FIFO
    or a device could block or never end."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def generator_files() -> List[str]:
    """Every file of the generator itself (sources and templates), so a
    build regenerates when the generator changes."""
    out = []
    for root, dirs, files in os.walk(PACKAGE_DIR):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".py", ".j2")):
                out.append(os.path.join(root, name))
    return out


def read_version(path: str) -> str:
    """The project version; raises OSError, or ValueError for an empty
    file.  Stripped like meson strips it."""
    with open(path, encoding="utf-8") as f:
        version = f.read().strip()
    if not version:
        raise ValueError("the file is empty")
    return version


class _VersionAction(argparse.Action):
    """``--version``.  VERSION is read only when asked for, so a damaged
    installation still generates code."""

    def __init__(self, option_strings: Sequence[str], dest: str,
                 **kwargs: Any) -> None:
        super().__init__(option_strings, dest=argparse.SUPPRESS,
                         default=argparse.SUPPRESS, nargs=0,
                         help="show the version number and exit")

    def __call__(self, parser: argparse.ArgumentParser,
                 namespace: argparse.Namespace, values: Any,
                 option_string: Optional[str] = None) -> None:
        try:
            version = read_version(VERSION_FILE)
        except (OSError, ValueError) as e:
            reason = getattr(e, "strerror", None) or str(e)
            parser.exit(EXIT_INTERNAL, f"{PROG}: error: cannot read the "
                                       f"version from '{VERSION_FILE}': "
                                       f"{reason}\n")
        sys.stdout.write(f"{PROG} {version}\n")
        parser.exit(EXIT_OK)


def _make_escape(path: str) -> str:
    out = []
    for c in path:
        if c == "$":
            out.append("$$")
        elif c in " #":
            out.append("\\" + c)
        else:
            out.append(c)
    return "".join(out)


def depfile_text(targets: Sequence[str], deps: Iterable[str]) -> str:
    """Makefile syntax as read by ninja (and meson's ``depfile:``)."""
    lines = [" ".join(_make_escape(t) for t in targets) + ":"]
    for d in deps:
        lines.append(" " + _make_escape(d))
    return " \\\n".join(lines) + "\n"


def write_if_changed(path: str, text: str) -> bool:
    """Atomically replace ``path`` with ``text`` unless it already holds
    exactly that; returns True if the file was written."""
    data = text.encode("utf-8")
    try:
        with open(path, "rb") as f:
            if f.read() == data:
                return False
    except OSError:
        pass
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        # mkstemp creates 0600; generated files are ordinary files.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return True


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog=PROG, description="Compile an lrpc IDL file.")
    p.add_argument("input", help="the .idl file to compile")
    p.add_argument("-I", dest="include_dirs", action="append", default=[],
                   metavar="DIR", help="also look for imports in DIR")
    p.add_argument("--backend", action="append", dest="backends",
                   choices=sorted(backends.BACKENDS), metavar="NAME",
                   help="what to generate (repeatable): "
                        + ", ".join(sorted(backends.BACKENDS))
                        + "; default: model")
    p.add_argument("-o", dest="outdir", default=".", metavar="OUTDIR",
                   help="directory for the generated files (default: .)")
    p.add_argument("--depfile", metavar="FILE",
                   help="write a Makefile-style dependency file")
    compat = p.add_mutually_exclusive_group()
    compat.add_argument("--check-compat", metavar="OLD",
                        help="generate nothing; check that the input is "
                             "wire-compatible with OLD, an earlier "
                             "version of the same module")
    compat.add_argument("--freeze-api", metavar="DIR",
                        help="generate nothing; record the input and its "
                             "imports as the released API of its "
                             "interface version, in DIR/<version>/")
    compat.add_argument("--check-api", metavar="DIR",
                        help="generate nothing; check the input against "
                             "every version recorded in DIR by "
                             "--freeze-api")
    p.add_argument("--version", action=_VersionAction)
    return p.parse_args(argv)


def frozen_versions(api_dir: str) -> List[int]:
    """The versions recorded in ``api_dir`` (its numeric subdirectories)."""
    try:
        names = os.listdir(api_dir)
    except OSError:
        return []
    return sorted(int(n) for n in names
                  if n.isdigit() and os.path.isdir(os.path.join(api_dir, n)))


def frozen_copies(input_path: str, include_dirs: Sequence[str],
                  fs: OsFileSystem) -> Optional[Dict[str, str]]:
    """Where each file read for ``input_path`` goes in a frozen copy
    (path read -> path in the copy), or None if one cannot go anywhere.

    The input goes at the top; each import goes where its import statement
    finds it from its importer's copy (next to the importer, the first
    place the loader looks), so the copy resolves exactly as the original
    did, whether the original found the file next to its importer or in
    an -I directory."""
    loaded = load(input_path, include_dirs, fs, Diagnostics())
    if loaded.main is None:
        return None
    out = {loaded.main.path: os.path.basename(input_path)}
    todo = [loaded.main]
    while todo:
        unit = todo.pop()
        for imp, dep in unit.imports:
            if dep is None:
                return None
            rel = os.path.normpath(os.path.join(
                os.path.dirname(out[unit.path]), imp.path))
            if rel.startswith(os.pardir + os.sep) or rel == os.pardir:
                sys.stderr.write(f"{PROG}: error: cannot freeze "
                                 f"'{dep.path}': '{imp.path}' leads out of "
                                 f"the frozen directory\n")
                return None
            if dep.path not in out:
                out[dep.path] = rel
                todo.append(dep)
    return out


def run_compat(args: argparse.Namespace) -> int:
    """--check-compat, --freeze-api and --check-api."""
    diags = Diagnostics()
    fs = OsFileSystem()
    new = check(args.input, args.include_dirs, fs, diags)
    if new.model is None:
        sys.stderr.write(diags.render(PROG))
        return EXIT_INPUT
    olds: List[str] = []
    if args.check_compat:
        olds = [args.check_compat]
    else:
        api_dir = args.check_api or args.freeze_api
        olds = [os.path.join(api_dir, str(v), os.path.basename(args.input))
                for v in frozen_versions(api_dir)]
        if args.check_api and not olds:
            sys.stderr.write(f"{PROG}: error: no frozen API in "
                             f"'{api_dir}' (make one with --freeze-api)\n")
            return EXIT_INPUT
    for old_path in olds:
        if not os.path.isfile(old_path):
            sys.stderr.write(f"{PROG}: error: cannot read '{old_path}': "
                             f"no such file\n")
            return EXIT_INPUT
        include = list(args.include_dirs)
        if not args.check_compat:
            include = [os.path.dirname(old_path)]
        old = check(old_path, include, fs, diags)
        if old.model is None:
            break
        check_compat(old.model, new.model, diags)
    if diags.has_errors:
        sys.stderr.write(diags.render(PROG))
        return EXIT_INPUT
    if args.freeze_api:
        version = max((i.version for i in new.model.main.interfaces),
                      default=1)
        dest = os.path.join(args.freeze_api, str(version))
        copies = frozen_copies(args.input, args.include_dirs, fs)
        if copies is None:
            return EXIT_INPUT
        for path, rel in sorted(copies.items()):
            target = os.path.join(dest, rel)
            os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
            with open(path, encoding="utf-8") as f:
                write_if_changed(target, f.read())
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    diags = Diagnostics()
    if not args.input.endswith(".idl"):
        sys.stderr.write(f"{PROG}: error: input file '{args.input}' must "
                         f"end in '.idl'\n")
        return EXIT_INPUT
    base = os.path.basename(args.input)
    if not all(c.isalnum() or c in "._+- " for c in base):
        # The name is pasted into the generated code: #include lines,
        # string literals, comments.  Characters that would need escaping
        # there (quotes, backslashes, '%', "??", controls) cannot have it
        # in an #include.
        sys.stderr.write(f"{PROG}: error: input file name '{base}' may "
                         f"only have letters, digits, spaces and '.-_+' "
                         f"(the generated files and their code use it)\n")
        return EXIT_INPUT
    kind = file_kind(args.input)
    if kind != "file":
        reason = "no such file" if kind is None else f"it is a {kind}"
        sys.stderr.write(f"{PROG}: error: cannot read '{args.input}': "
                         f"{reason}\n")
        return EXIT_INPUT
    if args.check_compat or args.freeze_api or args.check_api:
        return run_compat(args)
    result = check(args.input, args.include_dirs, OsFileSystem(), diags)
    if result.model is None:
        sys.stderr.write(diags.render(PROG))
        return EXIT_INPUT
    source = os.path.basename(args.input)
    stem = source[:-4] if source.endswith(".idl") else source
    ctx = backends.Context(source=source, stem=stem)
    outputs: Dict[str, str] = {}
    # Generate everything before writing anything, so a failing back end
    # leaves no output behind.
    for name in args.backends or ["model"]:
        for fname, text in backends.load(name).generate(result.model,
                                                         ctx).items():
            assert fname not in outputs, f"two back ends write {fname}"
            outputs[fname] = text
    # Created only now, so a run with errors leaves nothing behind.
    try:
        os.makedirs(args.outdir, exist_ok=True)
    except OSError as e:
        sys.stderr.write(f"{PROG}: error: cannot create output directory "
                         f"'{args.outdir}': {e.strerror or e}\n")
        return EXIT_INPUT
    targets = []
    for fname in sorted(outputs):
        path = os.path.join(args.outdir, fname)
        write_if_changed(path, outputs[fname])
        targets.append(path)
    if args.depfile:
        deps = [os.path.abspath(f) for f in result.files]
        deps += generator_files()
        write_if_changed(args.depfile, depfile_text(targets, deps))
    return EXIT_OK


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as e:
        # argparse has printed the help (0) or the usage (2, EXIT_USAGE);
        # --version exits 0, or EXIT_INTERNAL when VERSION is unreadable.
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    # The generator is a short-lived process whose data has next to no
    # reference cycles; the cycle collector's passes over every object cost
    # up to 40% of the time of a large input, and growing with it.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as e:         # never show a traceback to users
        sys.stderr.write(f"{PROG}: internal error: {type(e).__name__}: "
                         f"{e}\n")
        if os.environ.get("LRPC_GEN_DEBUG"):
            traceback.print_exc()
        else:
            sys.stderr.write(f"{PROG}: set LRPC_GEN_DEBUG=1 for details "
                             f"and please report this\n")
        return EXIT_INTERNAL
    finally:
        if collecting:
            gc.enable()


if __name__ == "__main__":
    sys.exit(main())
