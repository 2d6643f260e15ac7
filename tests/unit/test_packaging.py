"""The wheel ships every package and the YAML catalogs, resolvable from any install."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_python_package_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(p.parent.relative_to(REPO).parts)
        for p in (REPO / "profkit").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert on_disk - listed == set(), "add these packages to [tool.setuptools] packages"
    for package in on_disk:
        assert (REPO.joinpath(*package.split(".")) / "__init__.py").exists(), f"{package} lacks __init__.py"


def test_catalog_resolves_through_importlib_resources() -> None:
    from profkit.catalog import builtin_catalog

    catalog = builtin_catalog()
    assert {"kcp", "capi", "cabpk", "bmo", "capm3", "example"} <= set(catalog)
    assert catalog["kcp"].deployment == "capi-kubeadm-control-plane-controller-manager"
    assert "--kubeadmcontrolplane-concurrency" in catalog["kcp"].concurrency_flags()
