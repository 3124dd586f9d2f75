"""The import rule: every package of server/ imports only packages below it, and media/
never imports server/. A newcomer finds each thing by its folder; this test keeps the
folders honest (an upward import fails here, naming the file and the line)."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import ROOT

# Lowest first. A module may import its own package and any package listed before it.
LAYERS = ["platform", "accounts", "audience", "commerce", "vod", "ops", "live", "web", "top"]


def _layer(path: Path) -> str:
    rel = path.relative_to(ROOT / "server")
    return rel.parts[0] if len(rel.parts) > 1 else "top"  # app.py, cli.py


def _imports(path: Path, absolute_only: bool = True) -> list[tuple[int, str]]:
    """(line, module) of every import; server/ modules name theirs absolutely, so where a
    module stands is in every import line."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.ImportFrom) and node.level and absolute_only:
            raise AssertionError(f"{path}:{node.lineno}: use absolute imports (server.…)")
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return found


def test_server_packages_import_only_downwards() -> None:
    wrong = []
    for path in sorted((ROOT / "server").rglob("*.py")):
        own = LAYERS.index(_layer(path))
        for line, module in _imports(path):
            parts = module.split(".")
            if parts[0] != "server" or len(parts) < 2:
                continue
            target = parts[1] if len(parts) > 2 or (ROOT / "server" / parts[1]).is_dir() else "top"
            if LAYERS.index(target) > own:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module} "
                             f"({_layer(path)} may not import {target})")
    assert not wrong, "\n".join(wrong)


def test_every_package_says_what_it_owns_and_may_import() -> None:
    for layer in LAYERS[:-1]:
        init = ROOT / "server" / layer / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "May import" in doc and len(doc) > 80, f"{init}: say what it owns and imports"


def test_media_never_imports_server() -> None:
    for path in sorted((ROOT / "media").rglob("*.py")):
        for line, module in _imports(path, absolute_only=False):
            assert module.split(".")[0] != "server", f"{path}:{line} imports {module}"


# Handlers reach Redis only through a service; each file still doing it says why here.
RAW_REDIS_LEFT: dict[str, str] = {}


def test_web_handlers_call_services_not_stores_or_redis() -> None:
    """No handler in server/web/ reaches past the commerce service to its store
    (``ctx(request).commerce.store``) or uses a Redis client (``ctx(request).redis``);
    /healthz's ping lives in server/app.py."""
    wrong, uses_redis = [], set()
    for path in sorted((ROOT / "server" / "web").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.Attribute):
                continue
            owner = node.value
            if node.attr == "store" and (
                    (isinstance(owner, ast.Attribute) and owner.attr == "commerce")
                    or (isinstance(owner, ast.Name) and owner.id == "commerce")):
                wrong.append(f"{rel}:{node.lineno} reaches the commerce store: call "
                             "ctx(request).commerce (give Commerce the method)")
            elif node.attr == "redis":
                uses_redis.add(rel)
                if rel not in RAW_REDIS_LEFT:
                    wrong.append(f"{rel}:{node.lineno} uses Redis: call the service that owns "
                                 "the key (give it the method)")
    wrong += [f"{rel} no longer uses Redis: take it out of RAW_REDIS_LEFT"
              for rel in RAW_REDIS_LEFT if rel not in uses_redis]
    assert not wrong, "\n".join(wrong)
