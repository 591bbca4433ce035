"""Fetch the JavaScript that BertViz needs (d3 5.7.0, jQuery 2.2.4) into static/vendor/, offline-ready.

BertViz's HTML asks a CDN for d3 and jQuery, so in a classroom behind a firewall it draws nothing. We serve both
files ourselves instead (Streamlit static serving, or inlined into a downloaded HTML; see viz/bertviz_view.py).
Third-party code is never committed: this script fetches it at set-up time with the npm client,

    npm pack d3@5.7.0 --pack-destination TMP

which checks the registry's integrity hash, checks the tarball's sha512 once more against
``npm view d3@5.7.0 dist.integrity``, and pins the extracted file's sha256 below (so a changed tarball cannot slip
in). It writes ``dist/<file>`` and the package's licence next to it. Already in place with the pinned sha256 ->
nothing to do. Standard library only:

    python scripts/fetch_vendor.py            # idempotent; exit status 1 with a message when it cannot fetch
    python scripts/fetch_vendor.py --force    # fetch again even when the files look right
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

VENDOR_DIR = Path(__file__).resolve().parent.parent / "static" / "vendor"
NPM_TIMEOUT_S = 180


@dataclass(frozen=True)
class VendorFile:
    member: str  # path inside the npm tarball
    dest: str  # file name in static/vendor/
    sha256: str  # measured on the file npm served (2026-11-23); a mismatch means "not the file we tested"


@dataclass(frozen=True)
class NpmPackage:
    name: str
    version: str  # exact: d3 6/7 are not drop-ins for BertViz 1.4.1, and BertViz asks for jQuery 2.x
    files: tuple[VendorFile, ...]

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"


PACKAGES = (
    NpmPackage(
        "d3",
        "5.7.0",
        (
            VendorFile(
                "package/dist/d3.min.js",
                "d3.min.js",
                "bdad5585ef9a965ff25458738309b006058c55f2c78d794d25fbecae35014609",
            ),
            VendorFile(
                "package/LICENSE", "LICENSE-d3.txt", "7a3cb0e5055874e67db9aa2d5fe26de23204fa994ffbad198901ffe9c812a717"
            ),
        ),
    ),
    NpmPackage(
        "jquery",
        "2.2.4",
        (
            VendorFile(
                "package/dist/jquery.min.js",
                "jquery.min.js",
                "05b85d96f41fff14d8f608dad03ab71e2c1017c2da0914d7c59291bad7a54f8e",
            ),
            VendorFile(
                "package/LICENSE.txt",
                "LICENSE-jquery.txt",
                "f980a306a01e5881cc8004115f7e6dde44e7f5296477237d37d169a86ce7c094",
            ),
        ),
    ),
)


class FetchError(RuntimeError):
    """Something a person has to fix (no npm, no network, a hash that does not match); the message says what."""


def sha256_of(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def is_in_place(pkg: NpmPackage, vendor_dir: Path) -> bool:
    return all(sha256_of(vendor_dir / f.dest) == f.sha256 for f in pkg.files)


def run_npm(npm: str, *args: str) -> str:
    """Run the npm client and return its stdout; npm's own stderr is shown only when it fails (it is noisy)."""
    cmd = [npm, *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=NPM_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        raise FetchError(
            f"`{' '.join(cmd[1:])}` took longer than {NPM_TIMEOUT_S} s (is the npm registry reachable?)"
        ) from e
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if " at " not in ln]  # no JS stack
        tail = "\n".join(lines[:15])
        raise FetchError(f"`npm {' '.join(args)}` failed with exit status {proc.returncode}:\n{tail}")
    return proc.stdout


def registry_integrity(npm: str, pkg: NpmPackage) -> str:
    out = run_npm(npm, "view", pkg.spec, "dist.integrity", "--json")
    try:
        integrity = json.loads(out)
    except json.JSONDecodeError as e:
        raise FetchError(
            f"`npm view {pkg.spec} dist.integrity --json` printed something unexpected: {out[:200]!r}"
        ) from e
    if not isinstance(integrity, str) or not integrity.startswith("sha512-"):
        raise FetchError(f"the registry gave no sha512 integrity for {pkg.spec}: {integrity!r}")
    return integrity


def npm_pack(npm: str, pkg: NpmPackage, dest: Path) -> Path:
    out = run_npm(npm, "pack", pkg.spec, "--pack-destination", str(dest), "--json")
    try:
        filename = json.loads(out)[0]["filename"]
    except (json.JSONDecodeError, LookupError, TypeError):
        tarballs = sorted(dest.glob("*.tgz"))
        if len(tarballs) != 1:
            raise FetchError(f"`npm pack {pkg.spec}` did not leave exactly one tarball in {dest}") from None
        return tarballs[0]
    return dest / Path(filename).name


def fetch_package(npm: str, pkg: NpmPackage, vendor_dir: Path) -> None:
    integrity = registry_integrity(npm, pkg)
    with tempfile.TemporaryDirectory(prefix="fetch_vendor_") as tmp:
        tarball = npm_pack(npm, pkg, Path(tmp))
        data = tarball.read_bytes()
        got = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
        if got != integrity:
            raise FetchError(f"{tarball.name}: sha512 {got} does not match the registry's {integrity}")
        print(f"[vendor] {pkg.spec}: tarball {len(data):,} bytes, sha512 matches the registry's integrity")
        with tarfile.open(tarball, "r:gz") as tar:
            # Read only the members we want, as bytes: nothing from the archive decides where a file is written.
            blobs = {}
            for f in pkg.files:
                try:
                    fh = tar.extractfile(f.member)
                except KeyError:
                    fh = None
                if fh is None:
                    raise FetchError(f"{tarball.name} has no regular file {f.member}")
                blobs[f] = fh.read()
    for f, blob in blobs.items():
        digest = hashlib.sha256(blob).hexdigest()
        if digest != f.sha256:
            raise FetchError(
                f"{pkg.spec} {f.member}: sha256 {digest} is not the pinned {f.sha256}; "
                "refusing to use a file that differs from the one tested"
            )
    vendor_dir.mkdir(parents=True, exist_ok=True)
    for f, blob in blobs.items():
        tmp_path = vendor_dir / (f.dest + ".tmp")
        tmp_path.write_bytes(blob)
        os.replace(tmp_path, vendor_dir / f.dest)  # atomic: a half-written d3 is never served
        print(f"[vendor] wrote static/vendor/{f.dest} ({len(blob):,} bytes, sha256 {f.sha256[:12]}…)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--force", action="store_true", help="fetch again even when the files are already in place")
    args = ap.parse_args(argv)

    todo = [p for p in PACKAGES if args.force or not is_in_place(p, VENDOR_DIR)]
    for p in PACKAGES:
        if p not in todo:
            print(f"[vendor] {p.spec}: already in static/vendor/ (sha256 checked), nothing to do")
    if not todo:
        return 0
    npm = shutil.which("npm")
    if npm is None:
        print(
            "[vendor] ERROR: the `npm` client is not installed, so BertViz's d3/jQuery cannot be fetched.\n"
            "[vendor] Install Node.js with npm (Debian: `apt-get install -y npm`), then run "
            "`python scripts/fetch_vendor.py` again.",
            file=sys.stderr,
        )
        return 1
    for p in todo:
        try:
            fetch_package(npm, p, VENDOR_DIR)
        except FetchError as e:
            print(
                f"[vendor] ERROR fetching {p.spec}: {e}\n"
                "[vendor] BertViz views will show a hint instead of drawing until this succeeds.",
                file=sys.stderr,
            )
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
