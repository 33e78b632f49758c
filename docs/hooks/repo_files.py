"""mkdocs hook: the site also holds the repository's studies, results and tutorials, and an API
reference generated from the packages' docstrings.

Why: every page in ``docs/`` must read as plain Markdown on GitHub too, so pages link to a study's
rendered results with the relative path that works there (``../experiments/x/README.md``) and
carry no mkdocstrings directives. This hook makes the same links work on the site:

- ``on_files`` adds every file under ``MIRRORED`` (at its repository path: ``results/gpu/README.md``
  is the page ``results/gpu/``), and one API page per package (``api/<package>.md``, holding the
  ``::: module`` directives that mkdocstrings renders), plus ``api/index.md`` listing them.
- ``on_page_markdown`` rewrites a relative link that leaves ``docs/`` and lands on a mirrored file
  to that file's place in the site. Any other link out of ``docs/`` is left alone, so that
  ``mkdocs build --strict`` fails on it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

MIRRORED = ("experiments", "results", "tutorials")
"""Repository folders whose files the site holds at their repository paths."""
MIRRORED_SUFFIXES = {".md", ".png", ".svg", ".html", ".json", ".csv", ".ipynb", ".py"}
SKIPPED_PARTS = ("__pycache__", ".ipynb_checkpoints")
PACKAGES = ("saelens_hierarchical", "lime_lens")
"""Packages documented in ``api/``: each package and each of its sub-packages gets a page."""
LINK = re.compile(r"(\]\()([^)\s#]+)(#[^)\s]*)?(\s+\"[^\"]*\")?(\))")
"""A Markdown link or image target: ``](path#anchor "title")``."""


def _root(config: MkDocsConfig) -> Path:
    return Path(config.config_file_path).resolve().parent


def _mirrored(root: Path) -> list[str]:
    """Repository paths (POSIX, relative to the root) of the files the site mirrors."""
    paths = []
    for folder in MIRRORED:
        for path in sorted((root / folder).rglob("*")):
            rel = path.relative_to(root)
            hidden = any(p.startswith(".") or p in SKIPPED_PARTS for p in rel.parts)
            ignored = any(p.endswith("_out") for p in rel.parts)  # tutorial outputs
            if path.is_file() and path.suffix in MIRRORED_SUFFIXES and not (hidden or ignored):
                paths.append(rel.as_posix())
    return paths


def _api_pages(root: Path) -> dict[str, str]:
    """Package name -> Markdown of its API page (``::: module`` for each public module)."""
    pages = {}
    for package in PACKAGES:
        for init in sorted((root / package).rglob("__init__.py")):
            folder = init.parent
            parts = folder.relative_to(root).parts
            if len(parts) > 2 or any(p.startswith("_") for p in parts):
                continue
            dotted = ".".join(parts)
            nested = len(parts) == 2  # a sub-package: its modules on its page
            blocks = [f"# `{dotted}`", "", f"::: {dotted}"]
            if nested:
                blocks.append("    options:\n      show_submodules: true")
            else:
                for module in sorted(folder.glob("*.py")):
                    if not module.stem.startswith("_"):
                        blocks += ["", f"::: {dotted}.{module.stem}"]
            pages[dotted] = "\n".join(blocks) + "\n"
    return pages


def on_files(files: Files, config: MkDocsConfig) -> Files:
    root = _root(config)
    taken = {f.dest_uri for f in files}
    for rel in _mirrored(root):
        mirrored = File(rel, str(root), config.site_dir, config.use_directory_urls)
        if mirrored.dest_uri not in taken:  # a docs page of the same URL wins
            files.append(mirrored)
    pages = _api_pages(root)
    for dotted, markdown in pages.items():
        files.append(File.generated(config, f"api/{dotted}.md", content=markdown))
    index = ["# API reference", "", "Rendered from the docstrings by mkdocstrings.", ""]
    index += [f"- [`{dotted}`]({dotted}.md)" for dotted in pages]
    files.append(File.generated(config, "api/index.md", content="\n".join(index) + "\n"))
    return files


def _site_path(target: Path, root: Path, docs: Path, mirrored: set[str]) -> str | None:
    """Where the file at ``target`` (absolute) sits in the site, or None if it is not there."""
    if target.is_relative_to(docs):
        return target.relative_to(docs).as_posix()
    if target.is_relative_to(root) and target.relative_to(root).as_posix() in mirrored:
        return target.relative_to(root).as_posix()
    return None


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if page.file.abs_src_path is None:  # a generated API page: no relative links
        return markdown
    root, docs = _root(config), Path(config.docs_dir).resolve()
    mirrored = {f.src_uri for f in files if Path(f.src_dir or "").resolve() == root}
    here = Path(page.file.abs_src_path).resolve().parent
    page_dir = PurePosixPath(page.file.src_uri).parent

    def rewrite(match: re.Match[str]) -> str:
        target = match.group(2)
        if "://" in target or target.startswith(("/", "mailto:")):
            return match.group(0)
        site = _site_path(Path(os.path.normpath(here / target)), root, docs, mirrored)
        if site is None:
            return match.group(0)
        new = os.path.relpath(site, page_dir.as_posix() or ".")
        return match.group(0).replace(f"]({target}", f"]({PurePosixPath(new)}", 1)

    return LINK.sub(rewrite, markdown)
