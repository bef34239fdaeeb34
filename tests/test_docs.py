"""README.md and the docs site (docs/, mkdocs.yml): every relative link and #anchor
resolves as MkDocs builds the site, every page is in the nav, README stays short and runs
the test command .ci/run runs, and every --mtls-* option named anywhere exists.

Anchors are the heading ids Python-Markdown's toc extension makes, the one MkDocs and
Material use (mkdocs.yml sets no other slugify). `mkdocs build --strict` (.ci/run) checks
the site's links too; this test also covers README, which the site does not build.
"""

from __future__ import annotations

import posixpath
import re
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import markdown
import pytest
import yaml

from locust_mtls.config.options import OPTIONS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PAGES = [README, *sorted(DOCS.rglob("*.md"))]
README_MAX_LINES = 160


def page_id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def site_extensions() -> tuple[list[str], dict]:
    """mkdocs.yml's markdown_extensions, as Python-Markdown takes them (snippets from the
    repository root wherever pytest runs)."""
    names, configs = [], {}
    for item in yaml.safe_load((ROOT / "mkdocs.yml").read_text())["markdown_extensions"]:
        name, config = next(iter(item.items())) if isinstance(item, dict) else (item, None)
        names.append(name)
        if config:
            configs[name] = config
    configs["pymdownx.snippets"] = {**configs["pymdownx.snippets"], "base_path": [str(ROOT)]}
    return names, configs


def render(path: Path) -> markdown.Markdown:
    """The page as MkDocs renders it: its links and heading ids."""
    names, configs = site_extensions()
    converter = markdown.Markdown(extensions=names, extension_configs=configs)
    converter.html = converter.convert(path.read_text())
    return converter


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.targets: list[str] = []

    def handle_starttag(self, tag, attrs):
        attribute = {"a": "href", "img": "src"}.get(tag)
        value = dict(attrs).get(attribute) if attribute else None
        if value:
            self.targets.append(value)


def links(path: Path) -> list[str]:
    parser = _Links()
    parser.feed(render(path).html)
    return parser.targets


@cache
def headings(path: Path) -> tuple[tuple[str, str], ...]:
    """(id, text) of every heading of the page, ids as the site has them."""
    found = []
    pending = list(render(path).toc_tokens)
    while pending:
        token = pending.pop()
        found.append((token["id"], re.sub(r"<[^>]+>", "", token["name"])))
        pending += token["children"]
    return tuple(found)


def anchors(path: Path) -> set[str]:
    return {heading_id for heading_id, _ in headings(path)}


def github_anchors(path: Path) -> set[str]:
    """The ids GitHub gives the same headings (README's links are read there too)."""
    return {re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-") for _, text in headings(path)}


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_relative_link_and_anchor_resolves(page):
    broken = []
    for target in links(page):
        parts = urlsplit(target)
        if parts.scheme or target.startswith("//"):
            continue  # https://, mailto:
        path = unquote(parts.path)
        resolved = page if not path else (page.parent / path).resolve()
        if not resolved.exists():
            broken.append(f"{target}: no such file")
            continue
        if page.is_relative_to(DOCS) and not resolved.is_relative_to(DOCS):
            broken.append(f"{target}: outside docs/, so not on the site")
        if parts.fragment and resolved.suffix == ".md":
            if parts.fragment not in anchors(resolved):
                broken.append(f"{target}: no heading with that id in {page_id(resolved)}")
            elif page == README and parts.fragment not in github_anchors(resolved):
                broken.append(f"{target}: GitHub gives that heading another id")
    assert broken == []


def test_every_page_is_in_the_nav_and_the_nav_names_only_pages():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    pending, named = list(config["nav"]), set()
    while pending:
        item = pending.pop()
        for value in item.values() if isinstance(item, dict) else [item]:
            if isinstance(value, list):
                pending += value
            else:
                named.add(value)
    pages = {path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md")}
    assert named == pages


def test_readme_reads_in_five_minutes():
    assert len(README.read_text().splitlines()) <= README_MAX_LINES


def test_readmes_test_command_is_the_one_ci_runs():
    """.ci/run installs and tests as README says ("the same test command as README.md")."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), re.DOTALL)
    (command,) = [line for block in blocks for line in block.splitlines() if "pytest" in line]
    ci_run = (ROOT / ".ci" / "run").read_text().replace(" -q ", " ")
    for step in command.split(" && "):
        assert step in ci_run, f".ci/run does not run README's {step!r}"


def test_every_mtls_option_named_in_the_docs_exists():
    known = {name for name, *_ in OPTIONS}
    named = {
        (page_id(page), name)
        for page in PAGES
        for name in re.findall(r"--mtls-[a-z][a-z0-9-]*[a-z0-9]", page.read_text())
    }
    assert {(page, name) for page, name in named if name not in known} == set()


def test_site_relative_paths_in_mkdocs_yml_exist():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    assert (ROOT / config["docs_dir"]).resolve() == DOCS
    snippets = next(
        item["pymdownx.snippets"]
        for item in config["markdown_extensions"]
        if isinstance(item, dict) and "pymdownx.snippets" in item
    )
    assert snippets["check_paths"] is True
    assert [posixpath.normpath(path) for path in snippets["base_path"]] == ["."]
