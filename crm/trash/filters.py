"""The global soft-delete filter: rows in the trash are invisible to every ORM query.

A `do_orm_execute` hook adds `with_loader_criteria(Model, Model.deleted_at IS NULL)` for each
trashable model to every ORM SELECT: lists, counts and totals (`select(func.count(Model.id))`
is an ORM-enabled select too), subqueries and UNIONs, joins, `session.get` / `db.get_or_404`,
and relationship loads (lazy, selectin, joined). A statement opts out with
`.execution_options(include_deleted=True)`: the trash itself, restore and purge.

Refreshing the columns of an object already in the session (after a commit, or a deferred
column) is not filtered: the trash page needs to read the rows it has just moved.
"""
from sqlalchemy import event
from sqlalchemy.orm import Session, with_loader_criteria

from crm.models import Contact, Customer, Lead, Note, Opportunity, Task

TRASHABLE = (Customer, Contact, Opportunity, Note, Task, Lead)
INCLUDE_DELETED = "include_deleted"


def _not_deleted(cls):
    return cls.deleted_at.is_(None)


def _criteria():
    # A lambda per model keeps the statement cache keyed on the model, not on a new expression.
    return [with_loader_criteria(model, _not_deleted, include_aliases=True) for model in TRASHABLE]


def _hide_trashed_rows(state) -> None:
    if (state.is_select and not state.is_column_load
            and not state.execution_options.get(INCLUDE_DELETED, False)):
        state.statement = state.statement.options(*_criteria())


def install() -> None:
    """Listen on every Session (idempotent: the factory may run more than once)."""
    if not event.contains(Session, "do_orm_execute", _hide_trashed_rows):
        event.listen(Session, "do_orm_execute", _hide_trashed_rows)
