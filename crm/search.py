"""Customer search: the keys a record is found by, the terms a user types, and the index
that finds them fast.

Search keys: what a user may type to find a record, pinyin included. A Chinese name is found
by its characters, its full pinyin and its pinyin initials, as people type on phones:
北京星辰科技 -> "beijingxingchenkeji" and "bjxckj".

The index: a trigram index over `customers.search_index`, so that searching a substring of a name,
its pinyin or a phone number reads an index instead of every customer.

- SQLite: an FTS5 table with the trigram tokenizer, `customer_search`, whose content is the
  customers table (external content: it stores only the index), kept in step by triggers.
  A term of three characters or more is looked up with MATCH; the LIKE stays as well, so
  the result is exactly what the plain LIKE gave.
- PostgreSQL: pg_trgm's GIN index on the column, which `LIKE '%term%'` uses by itself. The
  extension is trusted (PostgreSQL 13+): a database owner may create it. Where it cannot be
  created, search works as before, without the index, and a warning says so.

Terms shorter than three characters (科技) have no trigram; they are matched by LIKE alone.
The schema comes from the migrations and, in the tests and the benchmark, from create_all:
both call `install()` (an after_create hook on the customers table).
"""
from __future__ import annotations

import logging
import re
from functools import lru_cache
import weakref

from flask import g, has_request_context
from pypinyin import lazy_pinyin
from pypinyin.constants import RE_HANS
from pypinyin.seg.simpleseg import simple_seg
from sqlalchemy import column, event, table

from crm.extensions import db

_SPACES = re.compile(r"\s+")
_NON_DIGITS = re.compile(r"\D")
_HAS_HAN = re.compile(r"[\u3400-\u9fff]")


def normalise(text: str) -> str:
    """Lower-case and drop white space, the form both keys and queries take."""
    return _SPACES.sub("", (text or "").lower())


def pinyin_keys(text: str) -> list[str]:
    """Full pinyin and initials of the Chinese in `text` (empty when there is none)."""
    if not text or not _HAS_HAN.search(text):
        return []
    return list(_pinyin_keys(text))


@lru_cache(maxsize=20_000)  # names repeat (contacts' above all): an import converts each once
def _pinyin_keys(text: str) -> tuple[str, str]:
    # pypinyin cuts a text into runs of Chinese and the rest, then converts each Chinese run
    # on its own (phrases never span a run) and, errors="ignore", drops the rest: converting
    # the runs one by one gives the same syllables, and the runs repeat where whole names do
    # not (北京星辰000123有限公司: 有限公司).
    syllables = [s for part in simple_seg(text) if RE_HANS.match(part) for s in _run_pinyin(part)]
    # The initials are the syllables' first letters (what Style.FIRST_LETTER gives), without
    # converting the text a second time.
    initials = [syllable[0] for syllable in syllables if syllable]
    return normalise("".join(syllables)), normalise("".join(initials))


@lru_cache(maxsize=20_000)
def _run_pinyin(run: str) -> tuple[str, ...]:
    return tuple(lazy_pinyin(run, errors="ignore"))


def search_keys(*values: str) -> str:
    """One text holding every key for the given values, separated by '|'."""
    keys: list[str] = []
    for value in values:
        if not value:
            continue
        keys.append(normalise(value))
        keys.extend(pinyin_keys(value))
        digits = _NON_DIGITS.sub("", value)
        if len(digits) >= 5 and digits != normalise(value):
            keys.append(digits)  # "138-0013-8000" is also found as 13800138000
    return "|".join(k for k in keys if k)


def query_terms(q: str) -> list[str]:
    """The terms of a search box entry; each must match."""
    return [normalise(t) for t in (q or "").split() if normalise(t)]


def like_escape(term: str) -> str:
    """Escape LIKE wildcards so that a user's % or _ is matched literally."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# --- The trigram index ------------------------------------------------------------------------

log = logging.getLogger(__name__)

FTS_TABLE = "customer_search"
PG_INDEX = "ix_customers_search_trgm"
MIN_TRIGRAM = 3
ID_LIST_MAX = 5000

_SQLITE_DDL = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
    "search_index, content='customers', content_rowid='id', tokenize='trigram')",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ai AFTER INSERT ON customers BEGIN "
    f"INSERT INTO {FTS_TABLE}(rowid, search_index) VALUES (new.id, new.search_index); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ad AFTER DELETE ON customers BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, search_index) "
    "VALUES ('delete', old.id, old.search_index); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_au AFTER UPDATE OF search_index ON customers BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, search_index) "
    "VALUES ('delete', old.id, old.search_index); "
    f"INSERT INTO {FTS_TABLE}(rowid, search_index) VALUES (new.id, new.search_index); END",
)

_fts = table(FTS_TABLE, column("rowid"), column(FTS_TABLE))
_available: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def install(connection, *, populate: bool = True) -> None:
    """Create the index (idempotent). `populate`: index the customers already there."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        for statement in _SQLITE_DDL:
            connection.exec_driver_sql(statement)
        if populate:
            connection.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")
    elif dialect == "postgresql":
        try:
            with connection.begin_nested():
                connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except Exception as error:  # noqa: BLE001 - any refusal leaves search unindexed, not broken
            log.warning("pg_trgm is not available (%s): customer search runs without its index",
                        str(error).splitlines()[0])
            return
        connection.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS {PG_INDEX} ON customers USING gin (search_index gin_trgm_ops)")
    _available.clear()


def uninstall(connection) -> None:
    if connection.dialect.name == "sqlite":
        for suffix in ("ai", "ad", "au"):
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {FTS_TABLE}_{suffix}")
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {FTS_TABLE}")
    elif connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"DROP INDEX IF EXISTS {PG_INDEX}")


def is_search_object(name: str | None, type_: str) -> bool:
    """The index's own tables and index, which the models do not describe (for Alembic's
    include_object: autogenerate and the schema test leave them alone)."""
    if not name:
        return False
    if type_ == "table":
        return name == FTS_TABLE or name.startswith(f"{FTS_TABLE}_")
    return type_ == "index" and name == PG_INDEX


def include_object(object_, name, type_, reflected, compare_to) -> bool:
    # ix_cf_*: the expression indexes of custom fields, made by crm/fields/sql.py at run time.
    if type_ == "index" and (name or "").startswith("ix_cf_"):
        return False
    return not is_search_object(name, type_)


def _fts_ready(session) -> bool:
    """Whether this SQLite database has the FTS table (asked once per engine)."""
    engine = session.get_bind()
    ready = _available.get(engine)
    if ready is None:
        ready = bool(session.connection().exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (FTS_TABLE,)).first())
        _available[engine] = ready
    return ready


def customer_terms_condition(terms: list[str]):
    """The condition "customers.search_index contains every one of `terms`" (lower-cased
    search terms, without '|'), with the trigram index where it helps.

    On SQLite the terms of three characters or more are first looked up together in the
    FTS5 table (one MATCH of quoted phrases), at most ID_LIST_MAX of them: a rarer search
    then reads only those customers. A commoner one (more matches than that) is left to the
    LIKE alone, which finds a page of matches quickly in the list's own order, where a long
    id list would cost more than it saves. The LIKE is always there, so the answer is the
    plain LIKE's. On PostgreSQL the GIN index serves the LIKE itself."""
    from crm.models import Customer  # cycle: crm.models.customer imports this module

    likes = [Customer.search_index.like(f"%{like_escape(term)}%", escape="\\") for term in terms]
    long_terms = [term for term in terms if len(term) >= MIN_TRIGRAM]
    session = db.session
    if not long_terms or session.get_bind().dialect.name != "sqlite" or not _fts_ready(session):
        return likes
    query = " AND ".join('"' + term.replace('"', '""') + '"' for term in long_terms)
    # A list page builds its SELECT twice (the page and its count): look up once per request.
    cache = g.setdefault("_crm_fts_ids", {}) if has_request_context() else {}
    ids = cache.get(query)
    if ids is None:
        ids = cache[query] = session.execute(
            db.select(_fts.c.rowid).where(_fts.c[FTS_TABLE].op("MATCH")(query)).limit(ID_LIST_MAX + 1)
        ).scalars().all()
    if len(ids) > ID_LIST_MAX:
        return likes
    return [Customer.id.in_(ids), *likes]


def register(customers_table) -> None:
    """Create the index with the customers table (create_all) and drop it with the table."""
    event.listen(customers_table, "after_create",
                 lambda target, connection, **kw: install(connection, populate=False))
    event.listen(customers_table, "before_drop", lambda target, connection, **kw: uninstall(connection))


def customer_search_condition(terms: list[str], title=None) -> list:
    """The plain-LIKE search by customer, one condition per term (AND them together): each of
    `terms` (query_terms) is in the customer's keys (customers.search_index: name, pinyin,
    initials, contacts, phones, emails) or, when `title` is given, in that SQL text (already
    in normalise()'s form, e.g. an opportunity's title lower-cased without spaces, with its
    customer joined)."""
    from crm.models import Customer  # cycle: crm.models.customer imports this module

    conditions = []
    for term in terms:
        pattern = f"%{like_escape(term)}%"
        keys = Customer.search_index.like(pattern, escape="\\")
        if title is not None:
            keys = title.like(pattern, escape="\\") | keys
        conditions.append(keys)
    return conditions
