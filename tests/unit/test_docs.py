"""The README and docs/ hold together: a short front door, links that lead somewhere, and every
setting the code reads documented once, in the configuration page's table."""

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
CONFIGURATION = DOCS / "configuration.md"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
# Where the app reads its settings: config.py, and the web server's own in gunicorn.conf.py.
SETTINGS_READERS = [ROOT / "config.py", ROOT / "gunicorn.conf.py"]
# Where a documented setting may be read: the code, its tests, scripts and make targets (this
# file aside: the names it holds are no reading).
PACKAGES = ("accounts", "bench", "database", "feed", "ops", "tests", "wallet")
SOURCES = [
    *ROOT.glob("*.py"),
    *[path for package in PACKAGES for path in (ROOT / package).rglob("*.py")],
    *(ROOT / "bin").iterdir(),
    ROOT / "Makefile",
    ROOT / "Procfile",
    ROOT / "Procfile.local",
    ROOT / ".ci" / "run",
]
SOURCES = [path for path in SOURCES if path.resolve() != Path(__file__).resolve()]

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
# [text](target "title") and ![alt](target); the text may hold one level of brackets.
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_LINK = re.compile(r"<(?:img|a)\b[^>]*?\b(?:src|href)=\"([^\"]*)\"", re.I)
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
# How config.py and gunicorn.conf.py read a variable: environ.get("X"), environ["X"], and the
# helpers that take the environment and a name: flag(environ, "X"), above_zero(environ, "X").
READ = re.compile(r"\benviron(?:\.get\(|\[|\s*,)\s*[\"']([A-Z][A-Z0-9_]*)[\"']")
ROW_KEY = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|", re.M)


def without_code(text):
    """Markdown with its fenced blocks and code spans taken out: what they hold is no link."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def slug(heading):
    """The anchor GitHub gives a heading: its text, lowercased, punctuation dropped, spaces to -."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link reads as its text
    text = text.replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page):
    """Every heading's anchor on `page`, repeats numbered as GitHub numbers them."""
    seen, found = {}, set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def relative_links(page):
    text = without_code(page.read_text(encoding="utf-8"))
    for target in [*LINK.findall(text), *HTML_LINK.findall(text)]:
        if not target or re.match(r"^[a-z][a-z0-9+.-]*:|^//", target, re.I):
            continue  # a URL of its own: https:, mailto:
        yield target


def settings_read():
    names = set()
    for path in SETTINGS_READERS:
        names |= set(READ.findall(path.read_text(encoding="utf-8")))
    return names


def test_the_readme_is_a_front_door_under_20_kb():
    size = README.stat().st_size
    assert size < 20_000, f"README.md is {size} bytes: move detail into docs/"


def test_the_readme_links_every_docs_page():
    linked = {Path(target.split("#")[0]).name for target in relative_links(README)}
    missing = [page.name for page in DOCS.glob("*.md") if page.name not in linked]
    assert not missing, f"README.md does not link {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_relative_link_leads_somewhere(page):
    broken = []
    for target in relative_links(page):
        path, _, anchor = unquote(target).partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no file {file.relative_to(ROOT)}")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {file.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_settings_are_found_where_the_code_reads_them():
    # A guard on the pattern itself: were it to find nothing, every check below would pass.
    assert {"DATABASE_URL", "SECRET_KEY", "FEED_URL", "WALLET_OPEN", "PORT"} <= settings_read()
    assert len(settings_read()) >= 40


def test_every_setting_read_is_one_row_of_the_configuration_table():
    rows = ROW_KEY.findall(CONFIGURATION.read_text(encoding="utf-8"))
    wrong = {name: rows.count(name) for name in sorted(settings_read()) if rows.count(name) != 1}
    assert not wrong, f"rows in docs/configuration.md (want exactly 1 each): {wrong}"


def test_every_row_of_the_configuration_table_is_read_somewhere():
    rows = ROW_KEY.findall(CONFIGURATION.read_text(encoding="utf-8"))
    assert len(rows) == len(set(rows)), "a setting has two rows"
    code = "\n".join(path.read_text(encoding="utf-8") for path in SOURCES if path.is_file())
    unread = [name for name in rows if not re.search(rf"\b{name}\b", code)]
    assert not unread, f"docs/configuration.md documents settings nothing reads: {unread}"


def test_settings_are_tabled_on_the_configuration_page_only():
    settings = settings_read()
    elsewhere = {
        page.relative_to(ROOT).as_posix(): tabled
        for page in PAGES
        if page != CONFIGURATION
        and (tabled := sorted(set(ROW_KEY.findall(page.read_text(encoding="utf-8"))) & settings))
    }
    assert not elsewhere, f"settings tabled outside docs/configuration.md: {elsewhere}"
