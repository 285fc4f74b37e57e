"""A CycloneDX SBOM of the Python environment a version was trained in: ``sbom.json`` in its technical file.

Written with ``cyclonedx-python-lib`` (the OWASP CycloneDX project's own library), never by hand: one
``library`` component per installed distribution, with its version, a ``pkg:pypi`` package URL and the licence
its metadata declares (as text: the library does not judge it). The document is CycloneDX 1.6 JSON; every
component is listed as a dependency of the root (tunegate at its code version): the environment, not a
resolved dependency graph.
"""

from __future__ import annotations

import json
from email.parser import HeaderParser
from importlib import metadata


def _headers(d: metadata.Distribution):
    """A distribution's core metadata headers, parsed once and without the description body (``d.metadata``
    parses the whole file, body included, at every access: most of this module's time before)."""
    text = d.read_text("METADATA") or d.read_text("PKG-INFO") or ""
    return HeaderParser().parsestr(text.replace("\r\n", "\n").split("\n\n", 1)[0])


def _distributions() -> list[tuple[str, str, str | None]]:
    """(name, version, licence or None) of every installed distribution, once each, sorted."""
    seen: dict[str, tuple[str, str, str | None]] = {}
    for d in metadata.distributions():
        meta = _headers(d)
        name = (meta.get("Name") or "").strip()
        if name and name.lower() not in seen:
            lic = (meta.get("License-Expression") or meta.get("License") or "").strip()
            seen[name.lower()] = (name, (meta.get("Version") or "").strip(), lic.splitlines()[0][:200] if lic else None)
    return sorted(seen.values(), key=lambda t: t[0].lower())


def python_sbom(root_name: str = "tunegate", root_version: str = "0") -> dict:
    """The environment's SBOM, as CycloneDX 1.6 JSON (a dict)."""
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.license import DisjunctiveLicense
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    bom = Bom()
    root = Component(name=root_name, version=root_version, type=ComponentType.APPLICATION, bom_ref=root_name)
    bom.metadata.component = root
    for name, version, lic in _distributions():
        purl = PackageURL(type="pypi", name=name.lower(), version=version)
        bom.components.add(Component(name=name, version=version, type=ComponentType.LIBRARY, purl=purl,
                                     bom_ref=purl.to_string(),
                                     licenses=[DisjunctiveLicense(name=lic)] if lic else None))
    # the run used the environment as a whole: every distribution hangs off the root (not a resolved graph)
    bom.register_dependency(root, list(bom.components))
    return json.loads(JsonV1Dot6(bom).output_as_string())
