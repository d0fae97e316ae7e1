"""Everything a user can type is documented: each ``shopguard`` command and option, each setting.

The docs are README.md and docs/*.md. A new command, option or setting fails here until it has its line
(commands in the table of docs/operations.md, settings in its configuration reference, one row each, and a
comment in shopguard.example.toml). And every link between them leads somewhere: its file, and its heading.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import typing
from pathlib import Path

from shopguard.cli import build_parser
from shopguard.config import ShopguardConfig

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "shopguard.example.toml"
OPERATIONS = ROOT / "docs" / "operations.md"
COMMON_OPTIONS = {"--config", "--set", "--help", "-h"}


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def docs_text() -> str:
    return "\n".join(p.read_text() for p in doc_files())


def commands() -> dict[str, argparse.ArgumentParser]:
    """Every subcommand of ``shopguard`` with its parser."""
    (group,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(group.choices)


def settings(cls: type = ShopguardConfig, prefix: str = "") -> dict[str, str]:
    """Every setting, ``section.key``, with the dataclass that declares it."""
    found = {}
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[field.name]):
            found.update(settings(hints[field.name], prefix + field.name + "."))
        else:
            found[prefix + field.name] = cls.__name__
    return found


def test_every_command_is_documented():
    text = docs_text()
    missing = [name for name in commands() if f"shopguard {name}" not in text]
    assert not missing, "\n".join(
        f"`shopguard {name}` is in shopguard/cli.py but in none of README.md, docs/*.md: "
        "add its row to the command table of docs/operations.md"
        for name in missing
    )


def test_every_option_of_every_command_is_documented():
    text = docs_text()
    missing = [
        (name, option)
        for name, parser in commands().items()
        for action in parser._actions
        for option in action.option_strings
        if option not in COMMON_OPTIONS and not re.search(re.escape(option) + r"\b", text)
    ]
    assert not missing, "\n".join(
        f"`shopguard {name} {option}` is undocumented: add it to the options of `shopguard {name}` "
        "in the command table of docs/operations.md"
        for name, option in missing
    )


def reference_rows() -> list[str]:
    """The settings the configuration reference of docs/operations.md has a row for (its first column)."""
    return re.findall(r"^\| `([a-z_][a-z_0-9.]*)` \|", OPERATIONS.read_text(), re.MULTILINE)


def test_every_setting_is_documented():
    rows = set(reference_rows())
    missing = {key: owner for key, owner in settings().items() if key not in rows}
    assert not missing, "\n".join(
        f"setting `{key}` ({owner} in shopguard/config.py) has no row in the configuration reference of "
        "docs/operations.md: add it (setting, default, meaning and trade-off)"
        for key, owner in missing.items()
    )


def test_the_configuration_reference_names_only_settings_once_each():
    rows, known = reference_rows(), settings()
    assert not [row for row in rows if row not in known], "a row of docs/operations.md names no setting of config.py"
    assert len(rows) == len(set(rows)), "a setting has two rows in docs/operations.md"


def test_every_setting_in_the_example_file_has_its_comment():
    lines = EXAMPLE.read_text().splitlines()
    bare = [
        line.split("=")[0].strip()
        for before, line in zip(["", *lines], lines)
        if re.match(r"\w+ = ", line) and not before.startswith("#")
    ]
    assert not bare, "\n".join(
        f"shopguard.example.toml: `{key}` has no comment line above it: say what it means and its trade-off "
        "(no measurements)"
        for key in bare
    )


def without_code_blocks(markdown: str) -> str:
    return re.sub(r"^```.*?^```", "", markdown, flags=re.MULTILINE | re.DOTALL)


def heading_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as hyphens, a repeated
    heading numbered.

    >>> sorted(heading_anchors("# Time\\n## The graph: `udfs/`, jobs\\n## Time\\n```\\n# not a heading\\n```"))
    ['the-graph-udfs-jobs', 'time', 'time-1']
    """
    anchors, seen = set(), {}
    for heading in re.findall(r"^#{1,6} (.+)$", without_code_blocks(markdown), re.MULTILINE):
        anchor = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(f"{anchor}-{seen[anchor]}" if anchor in seen else anchor)
        seen[anchor] = seen.get(anchor, 0) + 1
    return anchors


def relative_links(markdown: str) -> list[str]:
    """The targets of the Markdown links that stay in the repository (no scheme, no mail).

    >>> relative_links("[a](docs/a.md#x), [b](https://example.org), ![p](p.png), `[c](not/a/link.md)`")
    ['docs/a.md#x', 'p.png']
    """
    text = re.sub(r"`[^`\n]*`", "", without_code_blocks(markdown))
    return [target for target in re.findall(r"\]\(([^)\s]+)\)", text) if not re.match(r"[a-z][a-z0-9+.-]*:", target)]


def test_every_link_between_the_docs_resolves():
    broken = []
    for doc in doc_files():
        for target in relative_links(doc.read_text()):
            path, _, anchor = target.partition("#")
            destination = (doc.parent / path) if path else doc
            if not destination.exists():
                broken.append(f"{doc.relative_to(ROOT)}: ({target}) names no file")
            elif anchor and destination.suffix == ".md" and anchor not in heading_anchors(destination.read_text()):
                broken.append(f"{doc.relative_to(ROOT)}: ({target}) names no heading of {path or doc.name}")
    assert not broken, "\n".join(broken)


def test_the_link_check_sees_links_and_headings():
    links = relative_links((ROOT / "README.md").read_text())
    assert "docs/architecture.md#the-graph" in links and len(links) >= 10
    assert "the-graph" in heading_anchors((ROOT / "docs" / "architecture.md").read_text())


def test_the_checks_see_what_they_check():
    assert {"run", "detect", "evaluate", "bench", "config"} <= set(commands())
    assert settings()["job.state_backend"] == "JobSettings" and "cache_dir" in settings()
