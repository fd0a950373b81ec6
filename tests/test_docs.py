"""The docs: the API reference builds from the docstrings without a warning, and every relative
link in the README and docs/ leads somewhere."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.slow
def test_the_api_reference_builds_without_warnings(tmp_path):
    """As `make docs` builds it (same command), into a temporary folder."""
    makefile = (ROOT / "Makefile").read_text()
    command = re.search(r"\$\(PYTHON\) -m (pdoc .*)", makefile).group(1).split()
    command[command.index("--output-directory") + 1] = str(tmp_path)
    command[command.index("$(API_MODULES)") :] = api_modules(makefile)
    env = {**{k: v for k, v in os.environ.items() if k not in ("AWS_DEFAULT_REGION", "AWS_REGION")}, "PDOC_ALLOW_EXEC": "1"}
    result = subprocess.run([sys.executable, "-m", *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Warn" not in result.stdout + result.stderr, result.stdout + result.stderr
    page = (tmp_path / "constructs_ivsrt.html").read_text()
    for construct in (
        "Stage",
        "EncoderConfiguration",
        "StorageConfiguration",
        "IngestConfiguration",
        "PublicKey",
        "Composition",
        "ParticipantTokenVendor",
    ):
        assert f'id="{construct}"' in page
    assert "generated from the construct path" in page  # a prop's default, from its docstring
    assert (tmp_path / "ivsrt_local" / "testing.html").is_file()
    # docs/api.md names a page for each module it lists, and pdoc made each one.
    listed = re.findall(r"^\| `([a-z_.]+)` \|", (ROOT / "docs" / "api.md").read_text(), re.M)
    assert listed
    for module in listed:
        assert (tmp_path / (module.replace(".", "/") + ".html")).is_file(), f"docs/api.md lists {module}: no page"
    assert 'id="MetricOptions"' in (tmp_path / "constructs_ivsrt" / "metrics.html").read_text()
    # The grants every construct inherits are on its page, linked to the base that has them.
    assert "resource.html#IvsRealtimeResource.grant_read" in (tmp_path / "constructs_ivsrt" / "stage.html").read_text()


def api_modules(makefile: str) -> list[str]:
    """The Makefile's API_MODULES (a variable continued over lines)."""
    return re.search(r"^API_MODULES := ((?:.*\\\n)*.*)$", makefile, re.M).group(1).replace("\\", " ").split()


def test_every_public_class_documents_itself():
    """A class without a docstring of its own shows its base's in the reference (an enum, str's)."""
    import inspect

    import constructs_ivsrt

    undocumented = [
        name
        for name in constructs_ivsrt.__all__
        if inspect.isclass(getattr(constructs_ivsrt, name))
        and not (getattr(constructs_ivsrt, name).__dict__.get("__doc__") or "").strip()
    ]
    assert undocumented == []


@pytest.mark.parametrize("document", DOCS, ids=[d.name for d in DOCS])
def test_every_relative_link_leads_somewhere(document):
    headings = {}
    for target in DOCS:
        headings[target] = {
            re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in re.findall(r"^#+ (.*)$", target.read_text(), re.M)
        }
    for link in LINK.findall(document.read_text()):
        if re.match(r"[a-z]+:", link):
            continue  # absolute: not checked offline
        path, _, anchor = link.partition("#")
        target = (document.parent / path).resolve() if path else document
        assert target.exists(), f"{document.name}: {link} leads nowhere"
        if anchor and target.suffix == ".md":
            assert anchor in headings[target], f"{document.name}: {link}: no such heading in {target.name}"
