"""MANWIDTH=80 man --warnings -l PAGE: fail on any warning, or on a page
that renders to (almost) nothing."""

import os
import subprocess
import sys

man, page = sys.argv[1], sys.argv[2]
env = dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0")
r = subprocess.run([man, "--warnings", "-l", page], capture_output=True,
                   text=True, env=env)
if r.returncode != 0 or r.stderr.strip():
    sys.exit(f"{page}: man failed ({r.returncode}):\n{r.stderr}")
if len(r.stdout.splitlines()) < 20:
    sys.exit(f"{page}: rendered to {len(r.stdout.splitlines())} lines")
print(f"{page}: {len(r.stdout.splitlines())} lines, no warnings")
