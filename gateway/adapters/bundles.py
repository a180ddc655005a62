"""Builds one OPA bundle per policy set from the policy directory, plus the shared `lib` and `data` bundles and
the gateway's generated entry bundle (design section 6).

A bundle's revision is a hash of its content (prefixed by the directory's own `.manifest` revision, if any), so
the same files always give the same revision, on any machine: the gateway can tell whether OPA runs exactly the
policies it sees on disk. Roots come from the packages found unless the directory has its own `.manifest`.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gateway.domain.entry import ENTRY_BUNDLE, ENTRY_ROOT, entry_module
from gateway.domain.policy_sets import PolicySet
from gateway.errors import InvalidRequest

SHARED_LIB = "lib"
SHARED_DATA = "data"
_PACKAGE = re.compile(r"^\s*package\s+([A-Za-z_][\w.]*(?:\[\"[^\"]+\"\])*)", re.MULTILINE)


@dataclass(frozen=True)
class Bundle:
    name: str
    files: dict[str, bytes]  # path inside the bundle -> content, without the .manifest
    roots: list[str]
    rego_version: int
    revision: str

    def manifest(self) -> dict[str, Any]:
        return {"revision": self.revision, "roots": self.roots, "rego_version": self.rego_version}

    def tarball(self) -> bytes:
        """A gzipped tar as OPA's bundle plugin downloads it; fixed mtimes so equal content gives equal bytes."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tar:
            entries = {**self.files, ".manifest": json.dumps(self.manifest(), sort_keys=True).encode()}
            for path in sorted(entries):
                info = tarfile.TarInfo("/" + path)
                info.size = len(entries[path])
                info.mtime = 0
                tar.addfile(info, io.BytesIO(entries[path]))
        return buf.getvalue()


def _digest(files: dict[str, bytes], extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for path in sorted(files):
        h.update(path.encode() + b"\0" + files[path] + b"\0")
    return "sha256:" + h.hexdigest()[:16]


def _package_root(source: str, where: Path) -> str:
    m = _PACKAGE.search(re.sub(r"#[^\n]*", "", source))
    if not m:
        raise InvalidRequest(f"{where} has no package declaration")
    return m.group(1).replace(".", "/")


def _minimal(roots: set[str]) -> list[str]:
    """Drops roots already covered by a shorter one (a/b covers a/b/c)."""
    return sorted(r for r in roots if not any(r != o and r.startswith(o + "/") for o in roots))


def _overlap(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/") or a == "" or b == ""


def _policy_bundle(root: Path, directory: str, rego_version: int) -> Bundle:
    base = root / directory
    if not base.is_dir():
        raise InvalidRequest(f"policy bundle directory {base} does not exist")
    files: dict[str, bytes] = {}
    roots: set[str] = set()
    for f in sorted(p for p in base.rglob("*") if p.is_file()):
        rel = f.relative_to(base).as_posix()
        if f.suffix == ".rego" and not f.name.endswith("_test.rego"):
            files[rel] = f.read_bytes()
            roots.add(_package_root(files[rel].decode(), f))
        elif f.name in ("data.json", "data.yaml", "data.yml"):
            files[rel] = f.read_bytes()
            parent = f.parent.relative_to(base).as_posix()
            if parent != ".":
                roots.add(parent)
            else:
                doc = json.loads(files[rel]) if f.suffix == ".json" else yaml.safe_load(files[rel])
                roots.update(str(k) for k in (doc or {}))
    own: dict[str, Any] = {}
    if (base / ".manifest").is_file():
        own = json.loads((base / ".manifest").read_text())
    declared = own.get("roots")
    bundle_roots = [str(r) for r in declared] if declared else _minimal(roots)
    version = int(own.get("rego_version", rego_version))
    revision = _digest(files, f"v{version}")
    if own.get("revision"):
        revision = f"{own['revision']}@{revision}"
    return Bundle(directory, files, bundle_roots, version, revision)


def _merge(into: dict[str, Any], doc: dict[str, Any], where: str) -> None:
    for key, value in doc.items():
        if key in into and isinstance(into[key], dict) and isinstance(value, dict):
            _merge(into[key], value, f"{where}.{key}")
        elif key in into:
            raise InvalidRequest(f"policy data key {where}.{key} is defined twice")
        else:
            into[key] = value


def _data_bundle(root: Path) -> Bundle | None:
    """policies/data/**.json|yaml merged under data.data (where non-bundle loading puts them), as one bundle."""
    base = root / SHARED_DATA
    if not base.is_dir():
        return None
    merged: dict[str, Any] = {}
    for f in sorted(p for p in base.rglob("*") if p.suffix in (".json", ".yaml", ".yml")):
        doc = json.loads(f.read_text()) if f.suffix == ".json" else yaml.safe_load(f.read_text())
        if not isinstance(doc, dict):
            raise InvalidRequest(f"policy data file {f} must hold an object")
        target = merged
        for part in f.parent.relative_to(base).parts:
            target = target.setdefault(part, {})
        _merge(target, doc, "data." + ".".join(("data", *f.parent.relative_to(base).parts)))
    files = {"data/data.json": json.dumps(merged, sort_keys=True, indent=1).encode()}
    return Bundle(SHARED_DATA, files, ["data"], 1, _digest(files))


def _entry_bundle(sets: list[PolicySet]) -> Bundle:
    files = {"entry.rego": entry_module(sets).encode()}
    return Bundle(ENTRY_BUNDLE, files, [ENTRY_ROOT], 1, _digest(files))


def build_bundles(root: Path, sets: list[PolicySet]) -> dict[str, Bundle]:
    """Every bundle OPA must load for these sets, by name. Fails on a missing directory or clashing roots."""
    bundles: dict[str, Bundle] = {}
    for ps in sets:
        if ps.bundle in (SHARED_LIB, SHARED_DATA, ENTRY_BUNDLE):
            raise InvalidRequest(f"policy set {ps.name}: bundle '{ps.bundle}' is reserved for shared content")
        version = 0 if ps.rego_version == "v0" else 1
        existing = bundles.get(ps.bundle)
        if existing and existing.rego_version != version:
            raise InvalidRequest(f"sets sharing bundle {ps.bundle} declare different rego_version")
        if not existing:
            bundles[ps.bundle] = _policy_bundle(root, ps.bundle, version)
    if (root / SHARED_LIB).is_dir():
        bundles[SHARED_LIB] = _policy_bundle(root, SHARED_LIB, 1)
    data = _data_bundle(root)
    if data:
        bundles[SHARED_DATA] = data
    bundles[ENTRY_BUNDLE] = _entry_bundle(sets)
    claimed: list[tuple[str, str]] = []
    for b in bundles.values():
        if not b.roots:
            raise InvalidRequest(f"bundle {b.name} has no policies or data")
        for r in b.roots:
            for other, o in claimed:
                if other != b.name and _overlap(r, o):
                    shared = (o if len(o) < len(r) else r).replace("/", ".")
                    raise InvalidRequest(
                        f"bundles {other} and {b.name} both claim data.{shared}; "
                        "give one of them another package, or its own .manifest roots"
                    )
            claimed.append((b.name, r))
    return bundles
