"""What an IDE sees of the library: pyright over the public API and over a user's app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYRIGHT = ROOT / "node_modules" / ".bin" / "pyright"  # pinned in package.json
COMPLETENESS_TARGET = 0.95


def pyright(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    assert PYRIGHT.exists(), f"{PYRIGHT} is missing: run `make install`"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([str(PYRIGHT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_the_public_api_is_typed_for_type_checkers():
    """py.typed, plain imports, annotated attributes: pyright's own completeness measure."""
    result = pyright("--verifytypes", "constructs_ivsrt", "--ignoreexternal", "--outputjson")
    report = json.loads(result.stdout)["typeCompleteness"]
    print(f"pyright --verifytypes: {report['completenessScore']:.1%} of {report['exportedSymbolCounts']}")
    assert report["pyTypedPath"], "no py.typed"
    assert report["completenessScore"] >= COMPLETENESS_TARGET, report["exportedSymbolCounts"]


def test_the_librarys_own_modules_type_check_and_each_ignore_says_why():
    """pyright over constructs_ivsrt/ (pyproject.toml includes it): no error. The ignores are
    targeted (one rule each) and explained beside them: jsii's parameter-name mismatches
    (aws/jsii#4541) and botocore's untyped descriptors; an ignore no longer needed fails too."""
    result = pyright("--outputjson", "constructs_ivsrt")
    report = json.loads(result.stdout)
    errors = [
        f"{d['file']}:{d['range']['start']['line'] + 1}: {d['message']}"
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    ]
    assert report["summary"]["filesAnalyzed"] >= 20 and not errors, "\n".join(errors)
    for path in sorted((ROOT / "constructs_ivsrt").glob("*.py")):
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            if "pyright: ignore" in line:
                assert "pyright: ignore[" in line, f"{path.name}:{number + 1}: an ignore names its rule"
                said = line.split("pyright: ignore", 1)[1] + (lines[number - 1] if number else "")
                assert "jsii#4541" in said or "botocore" in said or "descriptor" in said, (
                    f"{path.name}:{number + 1}: an ignore says why, on its line or the one above"
                )


@pytest.mark.slow
def test_the_sample_apps_type_check_and_a_misspelt_prop_is_flagged(tmp_path):
    assert pyright().returncode == 0  # app.py and sample/, as configured in pyproject.toml
    user_app = tmp_path / "app.py"  # a user's app elsewhere, with this venv (the package installed in it)
    user_app.write_text(
        "import aws_cdk as cdk\n"
        "from constructs_ivsrt import Stage\n"
        "stack = cdk.Stack(cdk.App(), 'S')\n"
        "Stage(stack, 'X', stage_nam='oops')\n"
        "Stage.from_stage_arn(stack, 'I', 'arn:aws:ivs:us-east-1:1:stage/a').metric_publishers(perod=60)\n"
    )
    result = pyright("--pythonpath", sys.executable, str(user_app), cwd=tmp_path)
    assert result.returncode == 1 and 'No parameter named "stage_nam"' in result.stdout
    assert 'No parameter named "perod"' in result.stdout, result.stdout  # a metric helper's options too
