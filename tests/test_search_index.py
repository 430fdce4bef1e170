"""The trigram index behind customer search (crm/search.py): the same answers as a
plain LIKE over customers.search_index, kept in step as customers are added, renamed,
trashed and purged; SQLite looks terms of three characters up in the FTS5 table."""
import random

import pytest
from sqlalchemy import text

from crm.customers.queries import CustomerFilter, filtered_select
from crm.extensions import db
from crm.models import Customer
from crm.search import FTS_TABLE, PG_INDEX, like_escape
from tests import factories
from tests.conftest import count_queries

NAMES = ["北京星辰科技有限公司", "上海云帆物流", "深圳星河电子", "Acme Logistics", "Beijing Roast Duck Co",
         "星辰咨询", "Xingchen Partners", "杭州西湖茶业", "100% Pure Juice_Co", 'Quote "Marks" Ltd']


def _add(names, admin):
    ids = [factories.customer(admin, name=name, phone="010-6543 2100", created_by=admin,
                              commit=False).id for name in names]
    db.session.commit()
    return ids


def _found(q):
    return set(db.session.execute(filtered_select(CustomerFilter(q=q), ids_only=True)).scalars())


def _like(q):
    stmt = db.select(Customer.id)
    for term in q.lower().split():
        stmt = stmt.where(Customer.search_index.like(f"%{like_escape(term)}%", escape="\\"))
    return set(db.session.execute(stmt).scalars())


def test_the_index_exists_with_the_schema(app):
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            assert db.session.execute(text(
                "SELECT count(*) FROM sqlite_master WHERE name = :n"), {"n": FTS_TABLE}).scalar() == 1
        else:
            assert db.session.execute(text(
                "SELECT count(*) FROM pg_indexes WHERE indexname = :n"), {"n": PG_INDEX}).scalar() == 1


def test_search_gives_what_like_gives(app, admin):
    with app.app_context():
        _add(NAMES, admin)
        terms = ["xingchen", "bjxc", "星辰", "星辰科技", "科技", "kej", "6543", "01065432100", "acme",
                 "ACME LOG", "roast duck", "100%", "juice_co", "e_c", '"marks"', "marks", "zzz",
                 "xin", "xi", "x", "有限公", "物流 上海", "hangzhou", "hzxhcy"]
        rng = random.Random(7)
        for name in NAMES:  # random substrings of the stored keys
            keys = db.session.execute(db.select(Customer.search_index).where(Customer.name == name)).scalar()
            for _ in range(5):
                start = rng.randrange(len(keys))
                terms.append(keys[start:start + rng.randint(1, 6)].replace("|", "") or "a")
        for term in terms:
            assert _found(term) == _like(term), term
        assert _found("xingchen") and _found("星辰科技") and not _found("zzz")


def test_sqlite_looks_long_terms_up_in_the_fts_table(app, admin):
    with app.app_context():
        _add(NAMES[:3], admin)
        if db.engine.dialect.name != "sqlite":
            pytest.skip("PostgreSQL's GIN index serves LIKE itself")
        _found("warm up")
        with count_queries(db.engine) as statements:
            _found("xingchen")
        assert any("MATCH" in s for s in statements)
        with count_queries(db.engine) as statements:
            _found("科技")  # two characters: no trigram, LIKE alone
        assert not any("MATCH" in s for s in statements)


def test_the_index_follows_renames_and_deletes(app, admin):
    with app.app_context():
        first, second = _add(["Old Name Trading", "Keep Me Trading"], admin)
        customer = db.session.get(Customer, first)
        customer.name = "Brand New Holdings"
        customer.rebuild_search_index()
        db.session.commit()
        assert _found("old name") == set()
        assert _found("brand new") == {first}
        db.session.execute(db.delete(Customer).where(Customer.id == first))
        db.session.commit()
        assert _found("brand") == set()
        assert _found("trading") == {second}
        if db.engine.dialect.name == "sqlite":
            # The FTS table holds no trace of the deleted row.
            assert db.session.execute(text(
                f"SELECT count(*) FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH '\"holdings\"'")).scalar() == 0


def test_search_from_the_list_page(admin_client, app, admin):
    with app.app_context():
        _add(NAMES, admin)
    page = admin_client.get("/customers?q=xingchen").get_data(as_text=True)
    assert "北京星辰科技有限公司" in page and "Xingchen Partners" in page and "上海云帆物流" not in page
    page = admin_client.get("/customers?q=%22marks%22").get_data(as_text=True)
    assert "Quote &#34;Marks&#34; Ltd" in page or "Quote &quot;Marks&quot; Ltd" in page
