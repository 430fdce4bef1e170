"""Rules about customers that span rows: the list's filters, duplicates, tags, contacts, segments."""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import func, literal, or_
from sqlalchemy.orm import joinedload, selectinload

from crm.extensions import db
from crm.models import Contact, Customer, Segment, Tag, TagGroup, User, customer_tags, utcnow
from crm.search import customer_terms_condition
from crm.search import like_escape, normalise, query_terms

PER_PAGE = 25
COUNT_CAP = 1000  # the list counts its matches up to here, then says "1,000+"
SORTS = ("updated", "newest", "name")
DEFAULT_SORT = "updated"
MATCHES = ("any", "all")


# --- The customer list ------------------------------------------------------------------


def _int_or_none(value) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


@dataclass
class CustomerFilter:
    """What the customer list shows: the search box, the filters, the sort and the page.

    Read from a query string (`from_args`) and written back to one (`query_string`), so a
    filter can be bookmarked, pushed into the history and saved as a segment.
    """

    q: str = ""
    tag_ids: list[int] = field(default_factory=list)
    match: str = "any"
    owner: str = ""  # a user id, "none" for unassigned, "" for anyone
    industry: str = ""
    region: str = ""
    sort: str = DEFAULT_SORT
    page: int = 1

    @classmethod
    def from_args(cls, args) -> "CustomerFilter":
        """Parse request.args (or any MultiDict); unknown or broken values fall back quietly."""
        tag_ids: list[int] = []
        for raw in args.getlist("tag"):
            tag_id = _int_or_none(raw)
            if tag_id is not None and tag_id not in tag_ids:
                tag_ids.append(tag_id)
        owner = (args.get("owner") or "").strip()
        if owner != "none" and _int_or_none(owner) is None:
            owner = ""
        match = args.get("match", "any")
        sort = args.get("sort", DEFAULT_SORT)
        page = _int_or_none(args.get("page")) or 1
        return cls(
            q=(args.get("q") or "").strip()[:200],
            tag_ids=tag_ids,
            match=match if match in MATCHES else "any",
            owner=owner,
            industry=(args.get("industry") or "").strip(),
            region=(args.get("region") or "").strip(),
            sort=sort if sort in SORTS else DEFAULT_SORT,
            page=max(page, 1),
        )

    @classmethod
    def from_query_string(cls, query: str) -> "CustomerFilter":
        from werkzeug.datastructures import MultiDict
        return cls.from_args(MultiDict(parse_qsl(query or "", keep_blank_values=False)))

    def pairs(self, *, page: int | None = None, with_page: bool = True) -> list[tuple[str, str]]:
        """The non-default parameters, in a stable order."""
        pairs: list[tuple[str, str]] = []
        if self.q:
            pairs.append(("q", self.q))
        pairs += [("tag", str(tag_id)) for tag_id in self.tag_ids]
        if self.tag_ids and self.match != "any":
            pairs.append(("match", self.match))
        for name in ("owner", "industry", "region"):
            if getattr(self, name):
                pairs.append((name, getattr(self, name)))
        if self.sort != DEFAULT_SORT:
            pairs.append(("sort", self.sort))
        page = self.page if page is None else page
        if with_page and page > 1:
            pairs.append(("page", str(page)))
        return pairs

    def query_string(self, **kwargs) -> str:
        return urlencode(self.pairs(**kwargs))

    @property
    def segment_query(self) -> str:
        """What a segment stores: the filter without the page number."""
        return self.query_string(with_page=False)

    @property
    def is_filtered(self) -> bool:
        return bool(self.q or self.tag_ids or self.owner or self.industry or self.region)


def search_condition(q: str):
    """Every term of `q` must occur in the customer's search keys (pinyin included)."""
    # '|' separates keys in the index: a term never spans two of them.
    terms = [term.replace("|", "") for term in query_terms(q)]
    terms = [term for term in terms if term]
    return customer_terms_condition(terms) if terms else []


COMMON_TAG = 2000  # customers a tag filter holds before it is checked row by row (EXISTS)


def _tag_is_common(tag_ids: list[int]) -> bool:
    """Whether the tags hold more than COMMON_TAG customers (reading at most that many
    index entries; asked once per request)."""
    from flask import g, has_request_context
    cache = g.setdefault("_crm_common_tags", {}) if has_request_context() else {}
    key = tuple(sorted(tag_ids))
    if key not in cache:
        cache[key] = db.session.execute(db.select(func.count()).select_from(
            db.select(customer_tags.c.customer_id).where(customer_tags.c.tag_id.in_(tag_ids))
            .limit(COMMON_TAG + 1).subquery())).scalar_one() > COMMON_TAG
    return cache[key]


def tag_conditions(tag_ids: list[int], match: str) -> list:
    """Customers with any (match="any") or all of the tags.

    Two plans, chosen by how many customers the tags hold: a common tag is checked row by
    row as the list is read in its own order (EXISTS on the (customer_id, tag_id) key: the
    first page comes after a few hundred rows), a rarer one is read as the set of its
    customers (IN: a few thousand index entries instead of the whole list)."""
    if _tag_is_common(tag_ids):
        def has(ids):
            return db.exists().where(customer_tags.c.customer_id == Customer.id,
                                     customer_tags.c.tag_id.in_(ids))
        if match == "all":
            return [has([tag_id]) for tag_id in dict.fromkeys(tag_ids)]
        return [has(tag_ids)]
    tagged = db.select(customer_tags.c.customer_id).where(customer_tags.c.tag_id.in_(tag_ids))
    if match == "all":
        tagged = tagged.group_by(customer_tags.c.customer_id).having(
            func.count(func.distinct(customer_tags.c.tag_id)) == len(set(tag_ids)))
    return [Customer.id.in_(tagged)]


def filtered_select(filters: CustomerFilter, user=None, *, ids_only: bool = False):
    """The SELECT of the customers `filters` lets through, sorted, owners and tags preloaded;
    only those `user` (default: the signed-in user) may see. `ids_only`: their ids, unsorted."""
    from crm.permissions import current_viewer, sees_everything, visible_customers_clause
    stmt = db.select(Customer.id) if ids_only else db.select(Customer).options(
        joinedload(Customer.owner),
        selectinload(Customer.tags).joinedload(Tag.group),
        joinedload(Customer.contacts),
    )
    user = user if user is not None else current_viewer()
    if not sees_everything(user):
        stmt = stmt.where(visible_customers_clause(user))
    for condition in search_condition(filters.q):
        stmt = stmt.where(condition)
    if filters.tag_ids:
        stmt = stmt.where(*tag_conditions(filters.tag_ids, filters.match))
    if filters.owner == "none":
        stmt = stmt.where(Customer.owner_id.is_(None))
    elif filters.owner:
        stmt = stmt.where(Customer.owner_id == int(filters.owner))
    if filters.industry:
        stmt = stmt.where(Customer.industry == filters.industry)
    if filters.region:
        stmt = stmt.where(Customer.region == filters.region)
    if ids_only:
        return stmt
    if filters.sort == "name":
        stmt = stmt.order_by(func.lower(Customer.name), Customer.id)
    elif filters.sort == "newest":
        stmt = stmt.order_by(Customer.created_at.desc(), Customer.id.desc())
    else:
        stmt = stmt.order_by(Customer.updated_at.desc(), Customer.id.desc())
    return stmt


@dataclass
class CustomerPage:
    """One page of the list and how many match, counted up to COUNT_CAP (`capped` beyond)."""

    items: list
    page: int
    per_page: int
    total: int
    capped: bool = False
    has_next: bool = False

    @property
    def pages(self) -> int:
        pages = max(1, -(-self.total // self.per_page))
        return max(pages, self.page + 1) if self.has_next else max(pages, self.page)

    @property
    def pages_label(self) -> str:
        """"41+" when the count stopped at the cap."""
        return f"{self.pages}+" if self.capped else str(self.pages)

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None


def customer_page(filters: CustomerFilter, per_page: int = PER_PAGE) -> CustomerPage:
    """One page of the filtered list and its count, in one statement: the count reads at
    most COUNT_CAP + 1 matches (a LIMITed subquery), so a search for a common word over
    100,000 customers stops early instead of reading them all a second time."""
    counted = db.select(func.count()).select_from(
        filtered_select(filters, ids_only=True).limit(COUNT_CAP + 1).subquery()).scalar_subquery()
    rows = db.session.execute(
        filtered_select(filters).add_columns(counted)
        .limit(per_page + 1).offset((filters.page - 1) * per_page)).unique().all()
    if not rows and filters.page > 1:
        # A bookmarked page past the end shows the last page rather than nothing.
        total = db.session.execute(db.select(func.count()).select_from(
            filtered_select(filters, ids_only=True).subquery())).scalar_one()
        if total:
            filters.page = max(1, -(-total // per_page))
            return customer_page(filters, per_page)
        return CustomerPage([], filters.page, per_page, 0)
    total = rows[0][1] if rows else 0
    has_next = len(rows) > per_page
    if not has_next and rows:
        # The last page: the exact number is known, whatever the cap.
        total = (filters.page - 1) * per_page + len(rows)
        return CustomerPage(items=[row[0] for row in rows], page=filters.page, per_page=per_page,
                            total=total)
    return CustomerPage(items=[row[0] for row in rows[:per_page]], page=filters.page,
                        per_page=per_page, total=min(total, COUNT_CAP), capped=total > COUNT_CAP,
                        has_next=has_next)


def distinct_values(column) -> list[str]:
    """The values used in a column (industry, region, source) of the customers I may see, for
    filters and suggestions."""
    from crm.permissions import current_viewer, sees_everything, visible_customers_clause
    stmt = db.select(column).where(column.is_not(None), column != "")
    viewer = current_viewer()
    if not sees_everything(viewer):
        stmt = stmt.where(visible_customers_clause(viewer))
    rows = db.session.execute(stmt.distinct().order_by(column)).scalars()
    return list(rows)


_SKIP_SCAN = """
WITH RECURSIVE industries(value) AS (
    SELECT (SELECT min(industry) FROM customers WHERE industry > '' AND deleted_at IS NULL)
    UNION ALL
    SELECT (SELECT min(industry) FROM customers WHERE industry > industries.value AND deleted_at IS NULL)
    FROM industries WHERE industries.value IS NOT NULL
), regions(value) AS (
    SELECT (SELECT min(region) FROM customers WHERE region > '' AND deleted_at IS NULL)
    UNION ALL
    SELECT (SELECT min(region) FROM customers WHERE region > regions.value AND deleted_at IS NULL)
    FROM regions WHERE regions.value IS NOT NULL
)
SELECT 'industry', value FROM industries WHERE value IS NOT NULL
UNION ALL
SELECT 'region', value FROM regions WHERE value IS NOT NULL
"""


def industries_and_regions() -> tuple[list[str], list[str]]:
    """The industries and regions in use (outside the trash), sorted, for the list's filters.

    One statement that hops from value to value along the indexes on industry and region
    (a loose index scan: one index probe per distinct value, written as a recursive CTE
    since neither database does it for SELECT DISTINCT), instead of reading 100,000 rows.
    """
    from crm.permissions import current_viewer, sees_everything, visible_customers_clause
    viewer = current_viewer()
    if sees_everything(viewer):
        stmt = db.text(_SKIP_SCAN)
    else:
        # Only the customers I may see (owned or shared: few, found through their indexes).
        def used(column, name):
            return db.select(literal(name).label("kind"), column.label("value")).where(
                column.is_not(None), column != "", Customer.deleted_at.is_(None),
                visible_customers_clause(viewer)).distinct()
        both = db.union_all(used(Customer.industry, "industry"), used(Customer.region, "region")).subquery()
        stmt = db.select(both.c.kind, both.c.value).order_by(both.c.kind, both.c.value)
    industries: list[str] = []
    regions: list[str] = []
    for column, value in db.session.execute(stmt):
        (industries if column == "industry" else regions).append(value)
    return industries, regions


def tag_groups_with_tags() -> list[TagGroup]:
    """Every tag group with its tags, in one query."""
    return list(db.session.execute(
        db.select(TagGroup).options(joinedload(TagGroup.tags))
        .order_by(TagGroup.position, TagGroup.name)
    ).unique().scalars())


def owner_choices(include_id: int | None = None) -> list[User]:
    """Active users (and `include_id` even when deactivated, so it is not lost on save)."""
    condition = User.active.is_(True)
    if include_id is not None:
        condition = or_(condition, User.id == include_id)
    return list(db.session.execute(db.select(User).where(condition).order_by(User.name)).scalars())


# --- Duplicates --------------------------------------------------------------------------


def _digits(value: str | None) -> str:
    return "".join(ch for ch in (value or "") if ch.isdigit())


def find_duplicates(*, name: str | None = None, phone: str | None = None,
                    email: str | None = None, exclude_id: int | None = None,
                    limit: int = 10) -> list[Customer]:
    """Customers that may be the one being entered: same name, phone or email.

    Names compare without case and spaces, and a name of four or more characters inside
    the other counts too; phones by their last eight digits (at least 5 typed);
    emails without case. Contacts' phones and emails count too.
    """
    conditions = []
    contact_conditions = []
    name_key = normalise(name or "")
    if name_key:
        stored = func.lower(func.replace(Customer.name, " ", ""))
        conditions.append(stored == name_key)
        if len(name_key) >= 4:
            # "星辰科技" and "北京星辰科技有限公司" are probably one company, both ways round.
            conditions.append(stored.like(f"%{like_escape(name_key)}%", escape="\\"))
            conditions.append(db.and_(func.length(stored) >= 4,
                                      literal(name_key).like("%" + stored + "%")))
    digits = _digits(phone)
    if len(digits) >= 5:
        # The last eight digits: "+86 138-0013-8000" and "13800138000" are one number.
        pattern = f"%{like_escape(digits[-8:])}"
        for column, target in ((Customer.phone, conditions), (Contact.phone, contact_conditions)):
            stripped = column
            for ch in (" ", "-", "(", ")", "+", "."):
                stripped = func.replace(stripped, ch, "")
            target.append(stripped.like(pattern, escape="\\"))
    email_key = (email or "").strip().lower()
    if email_key:
        conditions.append(func.lower(Customer.email) == email_key)
        contact_conditions.append(func.lower(Contact.email) == email_key)
    if contact_conditions:
        conditions.append(Customer.id.in_(
            db.select(Contact.customer_id).where(or_(*contact_conditions))))
    if not conditions:
        return []
    stmt = (db.select(Customer).where(or_(*conditions)).options(joinedload(Customer.owner))
            .order_by(Customer.name).limit(limit))
    if exclude_id is not None:
        stmt = stmt.where(Customer.id != exclude_id)
    return list(db.session.execute(stmt).scalars().unique())


# --- Tags ---------------------------------------------------------------------------------


def add_tag(customer: Customer, tag: Tag) -> bool:
    """Put `tag` on the customer. In a single-choice group it replaces the group's other tag.

    Returns True when the customer's tags changed.
    """
    if tag in customer.tags:
        return False
    if not tag.group.multiple:
        for other in [t for t in customer.tags if t.group_id == tag.group_id]:
            customer.tags.remove(other)
    customer.tags.append(tag)
    customer.updated_at = utcnow()
    return True


def remove_tag(customer: Customer, tag: Tag) -> bool:
    """Take `tag` off the customer; True when it was there."""
    if tag not in customer.tags:
        return False
    customer.tags.remove(tag)
    customer.updated_at = utcnow()
    return True


def set_tags(customer: Customer, tags: list[Tag]) -> None:
    """Make the customer's tags exactly `tags`, keeping single-choice groups to one tag each
    (when several of one such group are given, the last one wins)."""
    for tag in list(customer.tags):
        if tag not in tags:
            customer.tags.remove(tag)
    for tag in tags:
        add_tag(customer, tag)


def bulk_tag(customers: list[Customer], tag: Tag, action: str) -> int:
    """Add or remove `tag` on every customer (tags preloaded); how many changed."""
    change = add_tag if action == "add" else remove_tag
    return sum(1 for customer in customers if change(customer, tag))


def customers_for_bulk(customer_ids: list[int], viewer) -> list[Customer]:
    """The selected customers `viewer` may see, with their tags (and the tags' groups), in two
    queries. An id of one they may not see is left out like an id that exists nowhere."""
    from crm.permissions import visible_customers_clause
    if not customer_ids:
        return []
    return list(db.session.execute(
        db.select(Customer).where(Customer.id.in_(customer_ids), visible_customers_clause(viewer))
        .options(selectinload(Customer.tags).joinedload(Tag.group))
    ).scalars())


def tags_by_group(tags: list[Tag]) -> list[tuple[TagGroup, list[Tag]]]:
    """A customer's tags grouped by their group, groups in their admin-defined order."""
    groups: dict[int, tuple[TagGroup, list[Tag]]] = {}
    for tag in tags:
        groups.setdefault(tag.group_id, (tag.group, []))[1].append(tag)
    return sorted(groups.values(), key=lambda item: (item[0].position, item[0].name))


# --- Contacts -----------------------------------------------------------------------------


def save_contact(customer: Customer, contact: Contact, *, primary: bool) -> Contact:
    """Attach or update a contact; at most one primary contact per customer.

    Marking a contact primary takes the flag off the others. A customer's first contact
    is its primary one. The customer's search keys follow its contacts.
    """
    if contact not in customer.contacts:
        if not customer.contacts:
            primary = True
        customer.contacts.append(contact)
    if primary:
        for other in customer.contacts:
            if other is not contact:
                other.is_primary = False
    contact.is_primary = primary
    customer.rebuild_search_index()
    customer.updated_at = utcnow()
    return contact


def delete_contact(customer: Customer, contact: Contact) -> None:
    """Remove a contact; when it was the primary one the next contact takes the flag."""
    was_primary = contact.is_primary
    customer.contacts.remove(contact)
    db.session.delete(contact)
    if was_primary and customer.contacts:
        customer.contacts[0].is_primary = True
    customer.rebuild_search_index()
    customer.updated_at = utcnow()


# --- Segments -----------------------------------------------------------------------------


def my_segments(user) -> list[Segment]:
    return list(db.session.execute(
        db.select(Segment).where(Segment.user_id == user.id).order_by(func.lower(Segment.name))
    ).scalars())


def save_segment(user, name: str, query: str) -> Segment:
    """Save a filter under a name; the page number is never part of it.

    Saving again under one of my names replaces that segment's filter.
    """
    query = CustomerFilter.from_query_string(query).segment_query
    name = name.strip()
    segment = db.session.execute(
        db.select(Segment).where(Segment.user_id == user.id, Segment.name == name)
    ).scalar_one_or_none()
    if segment is None:
        segment = Segment(name=name, user_id=user.id)
        db.session.add(segment)
    segment.query = query
    return segment
