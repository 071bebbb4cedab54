"""The offline bundle: everything a relay host with no network needs to install
Kakehashi, built on a machine that reaches PyPI.

    python .ci/bundle.py DEST [--lock conf/requirements.lock] [--tar]

DEST/ holds ``wheels/`` (every locked dependency as a wheel for this platform and
this Python: downloaded with pip's hash check, or built here from its sdist when
PyPI has no wheel), the project's own wheel, ``requirements.lock`` (the lock, plus
the hash of each wheel built here: its sdist was checked against the lock before
the build), ``install.sh``, ``systemd/`` and ``relayd.toml`` as examples, ``BUNDLE.txt``
(what it was built for) and ``SHA256SUMS`` (to check the copy that crossed to LGWAN).
With ``--tar`` also ``DEST.tar.gz``.

On the host: ``sh install.sh [VENV]`` (default ``/opt/kakehashi/.venv``) makes the
venv and installs with ``pip --no-index``: pip never contacts an index.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

INSTALL_SH = r'''#!/bin/sh
# Install Kakehashi from this bundle on a host without network:
#   sudo sh install.sh [VENV]        (default /opt/kakehashi/.venv)
# pip runs with --no-index: it never contacts a package index. Every wheel is checked
# against requirements.lock's hashes; then the project's wheel, without dependencies.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv=${1:-/opt/kakehashi/.venv}
python=${PYTHON:-python3}
want=@PYTHON_VERSION@
have=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$have" != "$want" ]; then
  echo "install.sh: this bundle is for Python $want, $python is $have (このバンドルは Python $want 用です)" >&2
  exit 1
fi
# Only this bundle: no pip configuration of the host (index mirrors, find-links).
for v in $(env | sed -n 's/^\(PIP_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --no-index --find-links "$here/wheels" \
    --require-hashes -r "$here/requirements.lock"
"$venv/bin/python" -m pip install -q --no-index --no-deps --force-reinstall "$here"/kakehashi-*.whl
"$venv/bin/relayd" --version
echo "install.sh: installed into $venv (relayd, relayctl in $venv/bin)"
'''


def run(*cmd: str | Path, cwd: Path | None = None) -> None:
    print("+", " ".join(map(str, cmd)), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=cwd)


def pip(*args: str | Path) -> None:
    run(sys.executable, "-m", "pip", *args)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def add_hashes(lock: str, extra: dict[str, str]) -> str:
    """``lock`` with one more ``--hash`` under each requirement named in ``extra``
    (canonical name -> sha256): the wheels built here from checked sdists."""
    out = []
    for line in lock.splitlines(keepends=True):
        out.append(line)
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==\S+ \\$", line.rstrip("\n"))
        if m and canonical(m.group(1)) in extra:
            out.append(f"    --hash=sha256:{extra[canonical(m.group(1))]} \\\n")
    return "".join(out)


def wheel_name(path: Path) -> str:
    return canonical(path.name.split("-")[0])


def build(dest: Path, lock: Path) -> Path:
    if dest.exists() and any(dest.iterdir()):
        raise SystemExit(f"bundle: {dest} exists and is not empty")
    wheels = dest / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kk-bundle-") as tmp:
        dl = Path(tmp) / "dl"
        # Wheels for this platform where PyPI has them, the sdist otherwise; each file
        # is checked against the lock's hashes as it arrives.
        pip("download", "-q", "--require-hashes", "--prefer-binary", "--no-deps",
            "-r", lock, "-d", dl)
        built: dict[str, str] = {}
        for f in sorted(dl.iterdir()):
            if f.name.endswith(".whl"):
                shutil.copy2(f, wheels / f.name)
                continue
            # A checked sdist, built into a wheel here (the host has no compiler).
            out = Path(tmp) / "built"
            pip("wheel", "-q", "--no-deps", "-w", out, f)
            for w in out.glob("*.whl"):
                shutil.move(str(w), wheels / w.name)
                built[wheel_name(w)] = sha256(wheels / w.name)
    (dest / "requirements.lock").write_text(
        add_hashes(lock.read_text(encoding="utf-8"), built), encoding="utf-8")
    pip("wheel", "-q", "--no-deps", "-w", dest, REPO)
    own = sorted(dest.glob("kakehashi-*.whl"))
    if len(own) != 1:
        raise SystemExit(f"bundle: expected one kakehashi wheel, found {own}")
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    script = dest / "install.sh"
    script.write_text(INSTALL_SH.replace("@PYTHON_VERSION@", version), encoding="utf-8")
    script.chmod(0o755)
    shutil.copytree(REPO / "systemd", dest / "systemd")
    shutil.copy2(REPO / "conf" / "relayd.toml", dest / "relayd.toml")
    (dest / "BUNDLE.txt").write_text(
        f"kakehashi {own[0].name.split('-')[1]}\n"
        f"python {version} ({sys.implementation.cache_tag})\n"
        f"platform {sysconfig.get_platform()} ({platform.libc_ver()[0]} "
        f"{platform.libc_ver()[1]})\n"
        f"wheels {len(list(wheels.iterdir()))} (built here from sdists: "
        f"{', '.join(sorted(built)) or 'none'})\n", encoding="utf-8")
    sums = [f"{sha256(p)}  {p.relative_to(dest).as_posix()}\n"
            for p in sorted(dest.rglob("*")) if p.is_file() and p.name != "SHA256SUMS"]
    (dest / "SHA256SUMS").write_text("".join(sums), encoding="utf-8")
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bundle", description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--lock", type=Path, default=REPO / "conf" / "requirements.lock")
    parser.add_argument("--tar", action="store_true", help="also write DEST.tar.gz")
    args = parser.parse_args(argv)
    dest = build(args.dest.resolve(), args.lock.resolve())
    if args.tar:
        tar = dest.with_name(dest.name + ".tar.gz")
        with tarfile.open(tar, "w:gz") as t:
            t.add(dest, arcname=dest.name)
        print(f"bundle: {tar}")
    print(f"bundle: {dest} ({os.path.basename(sys.executable)} "
          f"{sys.version_info.major}.{sys.version_info.minor}); on the host: sh install.sh")
    return 0


if __name__ == "__main__":
    sys.exit(main())
