"""`crm backup` and `crm restore`: a restored backup holds every row it was taken with."""
from crm.extensions import db
from crm.models import Contact, Customer, Note, User


def _counts():
    return {model.__name__: db.session.query(model).count() for model in (User, Customer, Contact, Note)}


def test_backup_then_restore_brings_back_every_row(app, make_user, tmp_path):
    admin = make_user("admin")
    with app.app_context():
        for i in range(7):
            customer = Customer(name=f"客户 {i}", owner_id=admin.id)
            customer.contacts.append(Contact(name=f"联系人 {i}", is_primary=True))
            db.session.add(customer)
            db.session.add(Note(kind="call", body=f"note {i}", customer=customer, author_id=admin.id))
        db.session.commit()
        before = _counts()
        names_before = sorted(db.session.execute(db.select(Customer.name)).scalars())
    runner = app.test_cli_runner()
    target = tmp_path / "crm.backup"
    result = runner.invoke(args=["crm", "backup", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert target.exists() and target.stat().st_size > 0

    with app.app_context():  # damage: delete some, add others
        db.session.execute(db.delete(Note))
        db.session.add(Customer(name="after the backup"))
        db.session.commit()
        assert _counts() != before

    result = runner.invoke(args=["crm", "restore", str(target), "--yes"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert _counts() == before
        assert sorted(db.session.execute(db.select(Customer.name)).scalars()) == names_before


def test_restore_refuses_a_missing_file(app, tmp_path):
    result = app.test_cli_runner().invoke(args=["crm", "restore", str(tmp_path / "nope"), "--yes"])
    assert result.exit_code != 0
