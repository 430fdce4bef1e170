"""crm.urls.IdUrl builds the same links as url_for, for any id."""
from flask import url_for

from crm.urls import IdUrl


def test_id_url_equals_url_for(app):
    with app.test_request_context():
        for endpoint, arg in (("customers.show", "customer_id"), ("opportunities.show", "opportunity_id"),
                              ("tasks.toggle", "task_id"), ("tasks.update", "task_id")):
            link = IdUrl(endpoint, arg)
            for record_id in (1, 7, 20, 2147483647, 123456):
                assert link(record_id) == url_for(endpoint, **{arg: record_id})


def test_id_url_keeps_the_script_root(app):
    with app.test_request_context(base_url="http://example.com/crm/"):
        assert IdUrl("tasks.toggle", "task_id")(42) == url_for("tasks.toggle", task_id=42) == "/crm/tasks/42/toggle"
