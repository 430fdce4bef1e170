"""`flask --app app crm import-maven DIR` (see crm/imports/maven.py)."""
import click
from flask.cli import with_appcontext

from crm.imports.maven import import_maven


@click.command("import-maven")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@with_appcontext
def import_maven_command(directory):
    """Import the Maven CRM data set (accounts, sales teams, products, sales pipeline) through
    the import's own code path, and print what it did with the data set's dirt."""
    for line in import_maven(directory):
        click.echo(line)
