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
    command = re.search(r"\$\(PYTHON\) -m (pdoc .*)", (ROOT / "Makefile").read_text()).group(1).split()
    command[command.index("--output-directory") + 1] = str(tmp_path)
    env = {**{k: v for k, v in os.environ.items() if k not in ("AWS_DEFAULT_REGION", "AWS_REGION")},
           "PDOC_ALLOW_EXEC": "1"}
    result = subprocess.run([sys.executable, "-m", *command], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Warn" not in result.stdout + result.stderr, result.stdout + result.stderr
    page = (tmp_path / "constructs_ivsrt.html").read_text()
    for construct in ("Stage", "EncoderConfiguration", "StorageConfiguration", "IngestConfiguration", "PublicKey",
                      "Composition", "ParticipantTokenVendor"):
        assert f'id="{construct}"' in page
    assert "generated from the construct path" in page  # a prop's default, from its docstring
    assert (tmp_path / "ivsrt_local" / "testing.html").is_file()


@pytest.mark.parametrize("document", DOCS, ids=[d.name for d in DOCS])
def test_every_relative_link_leads_somewhere(document):
    headings = {}
    for target in DOCS:
        headings[target] = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
                            for h in re.findall(r"^#+ (.*)$", target.read_text(), re.M)}
    for link in LINK.findall(document.read_text()):
        if re.match(r"[a-z]+:", link):
            continue  # absolute: not checked offline
        path, _, anchor = link.partition("#")
        target = (document.parent / path).resolve() if path else document
        assert target.exists(), f"{document.name}: {link} leads nowhere"
        if anchor and target.suffix == ".md":
            assert anchor in headings[target], f"{document.name}: {link}: no such heading in {target.name}"
