"""The board's scripts as files and as its page loads them, in-process (no browser, no server).

Every script is at most 600 lines; every import names a file of the set by a relative URL (no build
step, no import map) and imports go one way; the page loads its entry module as type=module at its
version's URL, every relative import resolves under that same URL, and a URL of another version is
refused and never kept (feed/board_modules.py).
"""

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest

from app import create_app
from database import db
from feed.board import modules as board_modules
from tests.conftest import base_config
from tests.servers import ROOT

STATIC = ROOT / "static"
MAX_LINES = 600
# The specifier of `import ... from "x"`, `export ... from "x"`, `import "x"` and `import("x")`.
IMPORT = re.compile(r"""(?<![\w.$])(?:from|import)\s*\(?\s*["']([^"']+)["']""")


def scripts():
    found = sorted(STATIC.rglob("*.js"))
    assert STATIC / "board" / board_modules.ENTRY in found
    return found


def specifiers(text):
    return IMPORT.findall(text)


@pytest.fixture
def client(sqlite_database_url):
    app = create_app(base_config(sqlite_database_url))
    yield app.test_client()
    with app.app_context():
        db.engine.dispose()


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def page_tags(client):
    answer = client.get("/")
    assert answer.status_code == 200
    parser = Tags()
    parser.feed(answer.text)
    return parser.tags


# The files ----------------------------------------------------------------------------------------


def test_no_script_is_over_600_lines():
    lengths = {
        path.relative_to(ROOT).as_posix(): len(path.read_text().splitlines()) for path in scripts()
    }
    assert {name: n for name, n in lengths.items() if n > MAX_LINES} == {}


def test_every_import_names_a_file_of_the_set_by_a_relative_url():
    wrong = []
    for path in scripts():
        for spec in specifiers(path.read_text()):
            target = (path.parent / spec).resolve()
            # A bare name ("lit") resolves only through a build step or an import map.
            if not spec.startswith(("./", "../")) or not target.is_file():
                wrong.append(f"{path.relative_to(ROOT)}: {spec}")
            elif not target.is_relative_to(STATIC.resolve()):
                wrong.append(f"{path.relative_to(ROOT)}: {spec} is not under static/")
    assert wrong == []


def test_imports_go_one_way():
    graph = {
        path.resolve(): [(path.parent / spec).resolve() for spec in specifiers(path.read_text())]
        for path in scripts()
    }
    done, path = set(), []

    def visit(node):
        if node in path:
            cycle = [*path[path.index(node) :], node]
            pytest.fail("imports go round: " + " -> ".join(p.name for p in cycle))
        if node in done:
            return
        path.append(node)
        for target in graph.get(node, []):
            visit(target)
        path.pop()
        done.add(node)

    for node in graph:
        visit(node)


def test_the_version_follows_the_contents_only(tmp_path):
    (tmp_path / "main.js").write_text('import { a } from "./a.js";\n')
    (tmp_path / "a.js").write_text("export const a = 1;\n")
    first = board_modules.version(tmp_path)
    assert re.fullmatch(r"[0-9a-f]{16}", first)
    (tmp_path / "a.js").write_text("export const a = 2;\n")  # the same size
    changed = board_modules.version(tmp_path)
    assert changed != first
    (tmp_path / "b.js").write_text("")
    assert board_modules.version(tmp_path) not in (first, changed)
    (tmp_path / "b.js").unlink()
    (tmp_path / "a.js").write_text("export const a = 1;\n")  # as before, at another time
    assert board_modules.version(tmp_path) == first  # so every server of a deploy agrees


# The page -----------------------------------------------------------------------------------------


def test_the_page_loads_the_entry_module_as_a_module_at_its_version(client):
    tags = page_tags(client)
    version = board_modules.version(STATIC / "board")
    base = f"/static/board/{version}/"
    scripts_ = [attrs for tag, attrs in tags if tag == "script"]
    assert scripts_ == [{"type": "module", "src": base + board_modules.ENTRY}]
    preloads = {
        attrs["href"]
        for tag, attrs in tags
        if tag == "link" and attrs.get("rel") == "modulepreload"
    }
    # Every module the entry imports, and theirs, fetched as the browser resolves them: under the
    # entry's URL, so at its version.
    seen, queue = set(), [scripts_[0]["src"]]
    while queue:
        url = queue.pop()
        if url in seen:
            continue
        seen.add(url)
        assert urlsplit(url).path.startswith(base), url
        answer = client.get(url)
        assert answer.status_code == 200, url
        assert answer.mimetype == "text/javascript"  # a module script needs a JavaScript type
        assert answer.cache_control.immutable and answer.cache_control.max_age >= 86400
        queue.extend(urljoin(url, spec) for spec in specifiers(answer.get_data(as_text=True)))
        answer.close()
    assert len(seen) == len(list((STATIC / "board").glob("*.js")))
    assert preloads == seen - {scripts_[0]["src"]}


def test_a_module_of_another_version_is_refused_and_never_kept(client):
    answer = client.get(f"/static/board/{'0' * 16}/{board_modules.ENTRY}")
    assert answer.status_code == 404
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["Content-Security-Policy"]
