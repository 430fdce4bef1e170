"""Migrations are self-contained: none imports the application (crm), so an old migration
runs its own DDL as it was on its day, not whatever crm/ generates today."""
import ast
import shutil
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


def test_autogenerate_writes_a_self_contained_migration(tmp_path):
    """A new migration made by `flask db migrate` (env.py, script.py.mako) imports no crm
    either: a UTCDateTime column is written as sa.DateTime(timezone=True)."""
    from flask_migrate import migrate

    from crm import create_app
    from crm.extensions import db

    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, directory, ignore=shutil.ignore_patterns("__pycache__"))
    for path in (directory / "versions").glob("*.py"):
        path.unlink()
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
                      "TESTING": True})
    with app.app_context():
        migrate(directory=str(directory), message="everything")
        db.engine.dispose()
    [generated] = (directory / "versions").glob("*.py")
    source = generated.read_text(encoding="utf-8")
    assert app_imports(source) == []
    assert "crm" not in source
    assert "sa.Column('created_at', sa.DateTime(timezone=True), nullable=False)" in source
