"""Write a copy of the lrpc-gen wrapper with a fixed interpreter.

usage: configure-wrapper.py INPUT OUTPUT PYTHON [ROOT]

The copy runs under PYTHON (the interpreter meson found, which has Jinja2)
instead of whatever ``python3`` is first on PATH; with ROOT it also looks
for the lrpc_gen package there (the build tree's uninstalled copy).
"""

import os
import sys


def main() -> int:
    src, dst, python = sys.argv[1:4]
    root = sys.argv[4] if len(sys.argv) > 4 else None
    with open(src, encoding="utf-8") as f:
        lines = f.read().split("\n")
    lines[0] = "#!" + python
    text = "\n".join(lines)
    if root:
        text = text.replace("_BUILD_ROOTS: list = []",
                            f"_BUILD_ROOTS: list = [{root!r}]")
    with open(dst, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(dst, 0o755)
    return 0


if __name__ == "__main__":
    sys.exit(main())
