"""The store's expected schema revisions, read from the version files without alembic, are alembic's heads."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory

from txcoord.store.migrations import _assignments, alembic_config, head_revisions


def test_heads_read_from_the_version_files_are_alembics() -> None:
    script = ScriptDirectory.from_config(alembic_config("postgresql://unused"))
    assert head_revisions() == set(script.get_heads())
    assert len(head_revisions()) == 1  # one line of migrations so far


def test_a_version_files_revisions_are_read_from_its_literal_assignments(tmp_path: Path) -> None:
    version = tmp_path / "0002_two.py"
    version.write_text(
        'revision: str = "0002_two"\n'
        'down_revision = ("0001_a", "0001_b")  # a merge\n'
        "branch_labels = None\n"
        "computed = str(1)  # not a literal: left out\n"
    )
    assert _assignments(version) == {
        "revision": "0002_two",
        "down_revision": ("0001_a", "0001_b"),
        "branch_labels": None,
    }
