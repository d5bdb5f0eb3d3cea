"""The core stays pure: it imports only the standard library (no asyncio), numpy and itself."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import streamer.core

CORE = Path(streamer.core.__file__).parent
# The design also keeps the event loop out of the core: it is sans-I/O, driven by its callers.
ALLOWED = (frozenset(sys.stdlib_module_names) - {"asyncio"}) | {"numpy"}


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module an ``import`` or ``from ... import`` in ``path`` names, anywhere in the file."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative imports stay inside the core package
                found.append((node.lineno, "streamer.core"))
            else:
                found.append((node.lineno, node.module or ""))
    return sorted(found)


def _violations(path: Path) -> list[str]:
    bad = []
    for lineno, module in _imported_modules(path):
        allowed = module.split(".")[0] in ALLOWED or module == "streamer.core" or module.startswith("streamer.core.")
        if not allowed:
            bad.append(f"{path.name}:{lineno} imports {module}")
    return bad


def test_core_imports_only_the_standard_library_and_numpy() -> None:
    files = sorted(CORE.glob("*.py"))
    assert len(files) >= 9
    problems = [v for path in files for v in _violations(path)]
    assert problems == []


def test_the_purity_check_catches_forbidden_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import json\nimport numpy as np\nfrom streamer.core.rig import Rig\nfrom . import keys\n"
        "import asyncio\nimport starlette.routing\nfrom streamer.server import app\n"
        "def f():\n    import av\n    from aiobotocore.session import get_session\n",
        encoding="utf-8",
    )
    assert _violations(sample) == [
        "sample.py:5 imports asyncio",
        "sample.py:6 imports starlette.routing",
        "sample.py:7 imports streamer.server",
        "sample.py:9 imports av",
        "sample.py:10 imports aiobotocore.session",
    ]
