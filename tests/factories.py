"""The records tests start from, made in one place: users, customers and their contacts,
pipelines and stages, opportunities, notes, tasks, tags and tag groups.

Each factory works in the application context the caller holds (db is crm.extensions.db),
takes keyword overrides of the model's columns, commits (or only flushes, with
commit=False) and returns the record. Users, customers, opportunities and stages may be given
as records or as ids.

A test that holds no application context (it talks to the app through a test client) uses
the `build` fixture of tests/conftest.py instead: build.customer(seller) runs the factory in an
application context of its own and answers the new customer's id.
"""
import uuid
from datetime import timedelta
from decimal import Decimal

from crm.extensions import db
from crm.models import (Contact, Customer, Note, Opportunity, Pipeline, Stage, Tag, TagGroup, Task,
                        User, utcnow)

__all__ = ["user", "customer", "customers", "contact", "default_pipeline", "stages", "stage",
           "pipeline", "opportunity", "note", "task", "tasks", "tag_group", "tag",
           "team_sees_everything", "InApp"]


def _id(record):
    """The id of a record, or the id itself (None stays None)."""
    return record if record is None or isinstance(record, int) else record.id


def _done(commit: bool) -> None:
    if commit:
        db.session.commit()
    else:
        db.session.flush()


# --- users ---------------------------------------------------------------------------------

def user(role="sales", *, email=None, name=None, password=None, language="en",
         timezone="Asia/Shanghai", active=True, commit=True, **fields) -> User:
    """A user. With a password, made as the app makes one (crm.auth.services.create_user: the
    email lower-cased, the password hashed); without one, a bare row whose password_hash
    matches no password (tests log it in through the session). `fields`: other columns (id)."""
    email = email or f"{role}-{uuid.uuid4().hex[:6]}@example.com"
    name = name or role.capitalize()
    if password is not None:
        from crm.auth.services import create_user
        record = create_user(email=email, name=name, password=password, role=role,
                             language=language, timezone=timezone)
        for key, value in fields.items():
            setattr(record, key, value)
    else:
        record = User(email=email, name=name, role=role, password_hash="-", language=language,
                      timezone=timezone, **fields)
        db.session.add(record)
    record.active = active
    _done(commit)
    return record


# --- customers and contacts ----------------------------------------------------------------

def customer(owner=None, *, name="北京星辰科技", contacts=(), tags=(), shared_with=(),
             created_by=None, commit=True, **fields) -> Customer:
    """A customer of `owner` (none: unowned). `contacts`: names, or dicts of Contact columns
    (is_primary, phone...); `tags`: Tag records or ids; `shared_with`: users or ids. Its
    search index is built from what it holds, unless `search_index` is given."""
    record = Customer(name=name, owner_id=_id(owner), created_by_id=_id(created_by), **fields)
    for spec in contacts:
        record.contacts.append(Contact(**({"name": spec} if isinstance(spec, str) else spec)))
    if tags:
        record.tags = [db.session.get(Tag, t) if isinstance(t, int) else t for t in tags]
    if shared_with:
        record.shared_with = [db.session.get(User, _id(u)) for u in shared_with]
    if "search_index" not in fields:
        record.rebuild_search_index()
    db.session.add(record)
    _done(commit)
    return record


def customers(count, owner=None, *, name="客户 {n:02d}", commit=True, **fields) -> list[Customer]:
    """`count` customers of `owner`, named name.format(n=0, 1, ...), in one commit."""
    records = [customer(owner, name=name.format(n=n), commit=False, **fields)
               for n in range(count)]
    _done(commit)
    return records


_customer = customer  # (for the factories below whose argument is called `customer`)


def contact(customer, *, name="王芳", is_primary=False, commit=True, **fields) -> Contact:
    """A contact of `customer` (a record or an id); the customer's search index follows."""
    if isinstance(customer, int):
        customer = db.session.get(Customer, customer)
    record = Contact(name=name, is_primary=is_primary, **fields)
    customer.contacts.append(record)
    customer.rebuild_search_index()
    _done(commit)
    return record


# --- pipelines and stages ------------------------------------------------------------------

def default_pipeline() -> Pipeline:
    """The pipeline a new install starts with (made with the first user: crm.pipelines.services.ensure_defaults)."""
    return db.session.execute(db.select(Pipeline).where(Pipeline.key == "default")).scalar_one()


def stages(pipeline=None) -> dict[str, Stage]:
    """{key: stage} of the default pipeline (or of `pipeline`, a record or an id): discover,
    confirm, needs_analysis, proposal, negotiation, signed, delivered, lost."""
    if pipeline is None:
        pipeline = default_pipeline()
    elif isinstance(pipeline, int):
        pipeline = db.session.get(Pipeline, pipeline)
    return {s.key: s for s in pipeline.stages}


def pipeline(name="Renewals 续约", *, copy_from=None, commit=True) -> Pipeline:
    """A pipeline added as on /admin/pipelines (crm.pipelines.services.create_pipeline): it goes
    last, with one open, one won and one lost stage (or a copy of `copy_from`'s stages). The
    default pipeline is made first when there is none yet, as on an install."""
    from crm.pipelines.services import ensure_defaults
    from crm.pipelines.services import create_pipeline
    ensure_defaults()
    record = create_pipeline(name, copy_from=copy_from)
    _done(commit)
    return record


def stage(key="discover") -> Stage:
    """The stage of the default pipeline with this key, read afresh."""
    return db.session.execute(db.select(Stage).join(Pipeline).where(
        Pipeline.key == "default", Stage.key == key)).scalar_one()


def _stage(record) -> Stage:
    if isinstance(record, Stage):
        return record
    if isinstance(record, int):
        return db.session.get(Stage, record)
    return stage(record)


# --- opportunities -------------------------------------------------------------------------

def opportunity(customer=None, owner=None, *, stage="discover", title="ERP rollout",
                amount=None, history=True, customer_name="Acme 科技", created_by=None,
                commit=True, **fields) -> Opportunity:
    """An opportunity of `customer` (none: a customer of its own, called `customer_name` and
    owned by `owner`), owned by `owner`, in `stage` (a key of the default pipeline, a Stage or a
    stage id), created by `created_by` (default: the owner), worth `amount` (none: 0, as when
    none is entered). `fields`: other Opportunity columns (currency, expected_close,
    lost_reason_id...).

    Made as the app makes one (crm.opportunities.services.create_opportunity): with its first
    stage change and the stage's playbook tasks. history=False makes a bare row instead (no
    stage change, no tasks), as lists and boards full of deals need: its status is its stage's
    kind, and a won or lost one closed now unless `closed_at` is given."""
    stage = _stage(stage)
    owner_id = _id(owner)
    created_by_id = _id(created_by) if created_by is not None else owner_id
    if customer is None:
        customer = _customer(owner_id, name=customer_name, commit=False)
    customer_id = _id(customer)
    if amount is not None:
        fields["amount"] = Decimal(str(amount))
    if history:
        from crm.opportunities.services import create_opportunity
        user = db.session.get(User, created_by_id) if created_by_id is not None else None
        record = create_opportunity(title=title, customer_id=customer_id, stage=stage, user=user,
                                    owner=owner_id, **fields)
    else:
        fields.setdefault("status", stage.kind)
        if stage.kind != "open":
            fields.setdefault("closed_at", utcnow())
        record = Opportunity(title=title, customer_id=customer_id, pipeline_id=stage.pipeline_id,
                             stage_id=stage.id, owner_id=owner_id, created_by_id=created_by_id,
                             **fields)
        db.session.add(record)
    _done(commit)
    return record


# --- notes and tasks -----------------------------------------------------------------------

def note(author=None, customer=None, *, opportunity=None, contact=None,
         body="Called about the quote", kind="call", commit=True, **fields) -> Note:
    """A follow-up note by `author` on `customer`, or on `opportunity` (and so on its customer),
    or on a `contact` of the customer; happened now unless `happened_at` is given."""
    opportunity_id, contact_id = _id(opportunity), _id(contact)
    customer_id = _id(customer)
    if customer_id is None and opportunity_id is not None:
        customer_id = db.session.get(Opportunity, opportunity_id).customer_id
    if customer_id is None and contact_id is not None:
        customer_id = db.session.get(Contact, contact_id).customer_id
    record = Note(body=body, kind=kind, author_id=_id(author), customer_id=customer_id,
                  opportunity_id=opportunity_id, contact_id=contact_id, **fields)
    db.session.add(record)
    _done(commit)
    return record


def task(assignee=None, title="Call back", *, due=None, customer=None, opportunity=None,
         done=False, done_at=None, created_by=None, commit=True, **fields) -> Task:
    """A task of `assignee` due at `due` (none: no due date), on a customer and/or an
    opportunity; created by the assignee unless `created_by` is given."""
    assignee_id = _id(assignee)
    record = Task(title=title, due_at=due, assignee_id=assignee_id, done=done, done_at=done_at,
                  customer_id=_id(customer), opportunity_id=_id(opportunity),
                  created_by_id=_id(created_by) if created_by is not None else assignee_id,
                  **fields)
    db.session.add(record)
    _done(commit)
    return record


def tasks(count, assignee=None, *, title="Task", first_due=None, commit=True,
          **fields) -> list[Task]:
    """`count` tasks "<title> 00", "<title> 01"..., due an hour apart from `first_due` (none:
    no due date), in one commit."""
    records = [task(assignee, f"{title} {i:02d}", commit=False,
                    due=first_due + timedelta(hours=i) if first_due is not None else None,
                    **fields)
               for i in range(count)]
    _done(commit)
    return records


# --- tags ----------------------------------------------------------------------------------

def tag_group(name="行业 Industry", *, multiple=True, position=None, commit=True) -> TagGroup:
    """A tag group (multiple: several of its tags on one customer; else one); it goes after
    the existing groups, as on /tags, unless `position` is given."""
    if position is None:
        last = db.session.execute(db.select(db.func.max(TagGroup.position))).scalar()
        position = last + 1 if last is not None else 0
    record = TagGroup(name=name, multiple=multiple, position=position)
    db.session.add(record)
    _done(commit)
    return record


def tag(group="行业 Industry", name="制造 Manufacturing", *, color="#336699", multiple=True,
        commit=True) -> Tag:
    """A tag in `group`: a TagGroup, its id, or its name (the group is made, with `multiple`,
    when there is none of that name)."""
    if isinstance(group, int):
        group = db.session.get(TagGroup, group)
    elif isinstance(group, str):
        name_of_group = group
        group = db.session.execute(
            db.select(TagGroup).filter_by(name=name_of_group)).scalar_one_or_none()
        if group is None:
            group = tag_group(name_of_group, multiple=multiple, commit=False)
    record = Tag(group=group, name=name, color=color)
    db.session.add(record)
    _done(commit)
    return record


# --- settings ------------------------------------------------------------------------------

def team_sees_everything(value=True, *, commit=True) -> None:
    """Issue 4: salespeople see each other's records only when the admin lets the team see
    everything (off on a new install)."""
    from crm.permissions import set_team_sees_everything
    set_team_sees_everything(value)
    _done(commit)


# --- without an application context -------------------------------------------------------

def _ids(result):
    if isinstance(result, db.Model):
        return result.id
    if isinstance(result, (list, tuple)):
        return type(result)(_ids(r) for r in result)
    if isinstance(result, dict):
        return {key: _ids(value) for key, value in result.items()}
    return result


class InApp:
    """The factories for a test that holds no application context (the `build` fixture):
    build.customer(seller, name=...) runs factories.customer in an application context of its
    own and answers the new customer's id (a list of ids for a list of records, {key: id} for
    a dict, such as build.stages()). build(function, ...) does the same for any function."""

    def __init__(self, app):
        self.app = app

    def __call__(self, function, *args, **kwargs):
        with self.app.app_context():
            return _ids(function(*args, **kwargs))

    def __getattr__(self, name):
        if name not in __all__ or name == "InApp":
            raise AttributeError(name)
        factory = globals()[name]
        return lambda *args, **kwargs: self(factory, *args, **kwargs)
