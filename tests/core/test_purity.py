"""The core stays pure: it imports only the standard library (no asyncio), numpy and itself.

So do the speech modules whose docstring says they are pure: they may also import each other.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import streamer.core
import streamer.speech

CORE = Path(streamer.core.__file__).parent
SPEECH = Path(streamer.speech.__file__).parent
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


def _violations(path: Path, also: frozenset[str] = frozenset()) -> list[str]:
    """Imports of ``path`` outside the standard library, numpy, the core and the modules ``also``."""
    bad = []
    for lineno, module in _imported_modules(path):
        allowed = module.split(".")[0] in ALLOWED or module == "streamer.core" or module.startswith("streamer.core.")
        if not (allowed or module in also):
            bad.append(f"{path.name}:{lineno} imports {module}")
    return bad


def test_core_imports_only_the_standard_library_and_numpy() -> None:
    files = sorted(CORE.glob("*.py"))
    assert len(files) >= 9
    problems = [v for path in files for v in _violations(path)]
    assert problems == []


def _says_it_is_pure(path: Path) -> bool:
    """Whether the module docstring's first line says "(pure", as in "(pure, no I/O)"."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return "(pure" in doc.partition("\n")[0]


def _module_name(path: Path) -> str:
    """``path``'s dotted name inside the speech package: ``alignment.dtw``, ``units``."""
    parts = path.relative_to(SPEECH).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_speech_modules_that_say_they_are_pure_import_only_pure_modules() -> None:
    pure = [path for path in sorted(SPEECH.rglob("*.py")) if _says_it_is_pure(path)]
    names = {_module_name(path) for path in pure}
    assert {
        "alignment.align",
        "alignment.dtw",
        "formats.captions",
        "formats.imports",
        "alignment.loudness",
        "formats.textgrid",
        "timing",
        "units",
        "lipsync.visemes",
    } <= names
    also = frozenset(f"streamer.speech.{name}" for name in names)
    problems = [v for path in pure for v in _violations(path, also)]
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
