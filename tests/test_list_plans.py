"""The customer list's tag filter has two plans (crm.customers.services.tag_conditions):
EXISTS for a common tag, IN for a rarer one. Both give the same customers."""
import pytest

from crm.customers import queries as services  # the list's reads: COMMON_TAG, tag_conditions
from crm.customers.queries import CustomerFilter, filtered_select
from crm.extensions import db
from crm.models import customer_tags
from tests import factories


@pytest.fixture
def tagged(app, admin):
    with app.app_context():
        group = factories.tag_group("Plan test", multiple=True, commit=False)
        tags = [factories.tag(group, f"T{i}", commit=False) for i in range(3)]
        customers = factories.customers(30, admin, name="Plan {n}", created_by=admin, commit=False)
        rows = [{"customer_id": c.id, "tag_id": t.id}
                for i, c in enumerate(customers) for j, t in enumerate(tags) if i % (j + 2) == 0]
        db.session.execute(customer_tags.insert(), rows)
        db.session.commit()
        return [t.id for t in tags]


@pytest.mark.parametrize("match", ["any", "all"])
def test_both_tag_plans_agree(app, tagged, monkeypatch, match):
    with app.app_context():
        for tag_ids in ([tagged[0]], tagged[:2], tagged, [tagged[2], tagged[0]]):
            answers = []
            for common in (0, 10**9):  # every tag common (EXISTS), then every tag rare (IN)
                monkeypatch.setattr(services, "COMMON_TAG", common)
                stmt = filtered_select(CustomerFilter(tag_ids=tag_ids, match=match))
                answers.append([c.id for c in db.session.execute(stmt).unique().scalars()])
            assert answers[0] == answers[1], (tag_ids, match)
            assert answers[0], (tag_ids, match)
