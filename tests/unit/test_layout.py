"""The arrows between packages that must never exist, read from every module's imports."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FEATURES = ("accounts", "feed", "ops", "wallet")
SHARED = ("database", "infra")
# Within the feed, each stage imports only the stages before it (and shared code).
FEED_STAGES = {
    "feed.upstream": set(),
    "feed.market": {"feed.upstream"},
    "feed.board": {"feed.upstream", "feed.market"},
    "feed.intake": {"feed.upstream", "feed.market"},
    "feed.relay": {"feed.upstream", "feed.market", "feed.board", "feed.intake"},
    "feed.store": {"feed.upstream", "feed.market"},
    "feed.bus": {"feed.upstream", "feed.market", "feed.board"},
}
# The rules read no clock and do no I/O: each time and each file is handed to them.
NO_IO = {"socket", "threading", "time", "websocket", "sqlalchemy", "flask", "redis", "gevent"}


LONGEST = 500  # lines of a module of the app: past it, it has more than one job


def sources():
    """(dotted name, path) of every module of the app, tests and tools aside."""
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[0] in {".venv", "tests", "bench", "migrations", "node_modules"} or any(
            part.startswith(".") for part in parts
        ):
            continue
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def modules():
    """(dotted name, imported dotted names) of every module of the app, tests and tools aside."""
    for name, path in sources():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        yield name, set(imported(ast.parse(path.read_text(encoding="utf-8")), package))


def imported(tree, package):
    for node in ast.walk(tree):  # function-level imports too
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")
                base = ".".join(up[: len(up) - node.level + 1] + ([base] if base else []))
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def within(name, package):
    return name == package or name.startswith(package + ".")


MODULES = dict(modules())


def test_the_rules_are_read_from_the_whole_app():
    assert {"feed.relay", "feed.market.rules", "wallet.views", "infra.gevent_waits"} <= set(MODULES)
    assert "feed.upstream.frames" in MODULES["feed.relay"]


@pytest.mark.parametrize("package", ["accounts", "ops", "wallet", *SHARED, "config", "sessions"])
def test_nothing_but_the_app_imports_the_feed(package):
    found = {
        (name, target)
        for name, targets in MODULES.items()
        if within(name, package)
        for target in targets
        if within(target, "feed")
    }
    assert not found


@pytest.mark.parametrize("package", SHARED)
def test_shared_plumbing_imports_no_feature(package):
    found = {
        (name, target)
        for name, targets in MODULES.items()
        if within(name, package)
        for target in targets
        if any(within(target, feature) for feature in FEATURES)
    }
    assert not found


@pytest.mark.parametrize("stage", FEED_STAGES)
def test_each_feed_stage_imports_only_the_stages_before_it(stage):
    allowed = FEED_STAGES[stage] | {stage}
    found = {
        (name, target)
        for name, targets in MODULES.items()
        if within(name, stage)
        for target in targets
        if within(target, "feed") and target != "feed"
        if not any(within(target, ok) for ok in allowed)
    }
    assert not found


def test_the_market_rules_read_no_clock_and_do_no_io():
    found = {
        (name, target)
        for name, targets in MODULES.items()
        if within(name, "feed.market")
        for target in targets
        if target.split(".")[0] in NO_IO
    }
    assert not found


def test_no_module_of_the_app_is_longer_than_500_lines():
    longer = {
        name: count
        for name, path in sources()
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > LONGEST
    }
    assert not longer
