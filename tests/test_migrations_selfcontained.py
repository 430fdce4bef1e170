"""Migrations are self-contained: none imports the application (crm), so an old migration
runs its own DDL as it was on its day, not whatever crm/ generates today."""
import ast
from pathlib import Path

import pytest

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
VERSIONS = sorted((MIGRATIONS / "versions").glob("*.py"))


def app_imports(source: str) -> list[str]:
    """The modules of crm that a Python source imports, anywhere in it."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [name for name in names if name == "crm" or name.startswith("crm.")]
    return found


def test_there_are_migrations_to_check():
    assert len(VERSIONS) >= 8


@pytest.mark.parametrize("path", VERSIONS, ids=lambda path: path.name.split("_")[0])
def test_a_migration_does_not_import_the_app(path):
    assert app_imports(path.read_text(encoding="utf-8")) == []


def test_the_check_sees_every_way_of_importing():
    assert app_imports("import crm") == ["crm"]
    assert app_imports("import os, crm.models.base") == ["crm.models.base"]
    assert app_imports("from crm import stage_totals") == ["crm"]
    assert app_imports("def upgrade():\n    from crm.search_index import install\n") == \
        ["crm.search_index"]
    assert app_imports("import crmx\nfrom alembic import op\n# import crm\n") == []

