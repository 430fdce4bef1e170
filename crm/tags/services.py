"""The rules and writes of tags (标签) and tag groups (分类): names, colours, ordering, the
single-choice rule, merging, deleting. Reads (counts, the page) are crm.tags.queries.

Every function here works in a constant number of queries, whatever the number of
customers or tags, and adds to the session without committing: the view commits. A refusal
is a TagRuleError (a crm.rules.RuleError) naming the form field at fault.
"""
import re
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext
from sqlalchemy import delete, func, insert, select

from crm.audit import services as audit
from crm.extensions import db
from crm.models import Customer, Tag, TagGroup, customer_tags
from crm.rules import RuleError
from crm.tags.queries import customers_in_group, customers_with_several_tags_of, customers_with_tag

COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_COLOR = "#64748b"



class TagRuleError(RuleError):
    """A change that would break a rule of tags; the message says which, `field` where."""


def normalise_color(value: str | None) -> str:
    """'#RRGGBB' lower-cased; raises TagRuleError for anything else."""
    value = (value or "").strip()
    if not COLOR_RE.match(value):
        raise TagRuleError(_l("A colour looks like #1a2b3c."), field="color")
    return value.lower()


def _check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise TagRuleError(_l("Enter a name."), field="name")
    return name


# --- groups ----------------------------------------------------------------------------

def group_name_taken(name: str, *, exclude_id: int | None = None) -> bool:
    """Group names are unique, whatever their case."""
    query = select(TagGroup.id).where(func.lower(TagGroup.name) == name.strip().lower())
    if exclude_id is not None:
        query = query.where(TagGroup.id != exclude_id)
    return db.session.execute(query.limit(1)).first() is not None


def create_group(*, name: str, multiple: bool) -> TagGroup:
    """A new group goes after the existing ones."""
    name = _check_name(name)
    if group_name_taken(name):
        raise TagRuleError(_l("A group with this name already exists."), field="name")
    last = db.session.execute(select(func.max(TagGroup.position))).scalar()
    group = TagGroup(name=name, multiple=multiple, position=(last if last is not None else -1) + 1)
    db.session.add(group)
    db.session.flush()
    return group


def update_group(group: TagGroup, *, name: str, multiple: bool) -> TagGroup:
    """Rename a group or change its choice; a group becomes single-choice only when no
    customer carries two of its tags (otherwise which one to keep would be a guess: a
    TagRuleError on `choice` says how many)."""
    name = _check_name(name)
    if group_name_taken(name, exclude_id=group.id):
        raise TagRuleError(_l("A group with this name already exists."), field="name")
    several = customers_with_several_tags_of(group) if group.multiple and not multiple else 0
    if several:
        raise TagRuleError(lazy_ngettext(
            "%(num)d customer has several tags of this group: merge or remove them first.",
            "%(num)d customers have several tags of this group: merge or remove them first.",
            several), field="choice")
    group.name = name
    group.multiple = multiple
    db.session.flush()
    return group


def move_group(group: TagGroup, direction: str) -> bool:
    """Swap the group with its neighbour ('up' or 'down'); positions become 0..n-1.

    Returns False when the group is already first (up) or last (down)."""
    groups = list(db.session.execute(
        select(TagGroup).order_by(TagGroup.position, TagGroup.name)).scalars())
    index = groups.index(group)
    other = index - 1 if direction == "up" else index + 1
    if direction not in ("up", "down") or other < 0 or other >= len(groups):
        return False
    groups[index], groups[other] = groups[other], groups[index]
    for position, item in enumerate(groups):
        item.position = position
    db.session.flush()
    return True


def delete_group(group: TagGroup) -> int:
    """Delete a group and its tags, untagging every customer; returns how many customers
    lost a tag."""
    affected = customers_in_group(group)
    tag_ids = select(Tag.id).where(Tag.group_id == group.id).scalar_subquery()
    before = audit.customer_tags_snapshot(
        select(customer_tags.c.customer_id).where(customer_tags.c.tag_id.in_(tag_ids)))
    _untag_and_delete(group, customer_tags.c.tag_id.in_(tag_ids), before)
    return affected


# --- tags ------------------------------------------------------------------------------

def tag_name_taken(group: TagGroup, name: str, *, exclude_id: int | None = None) -> bool:
    """Tag names are unique inside their group, whatever their case."""
    query = select(Tag.id).where(Tag.group_id == group.id,
                                 func.lower(Tag.name) == name.strip().lower())
    if exclude_id is not None:
        query = query.where(Tag.id != exclude_id)
    return db.session.execute(query.limit(1)).first() is not None


def create_tag(group: TagGroup, *, name: str, color: str = DEFAULT_COLOR) -> Tag:
    """A new tag of the group; its name is unique in the group."""
    name = _check_name(name)
    if tag_name_taken(group, name):
        raise TagRuleError(_l("This group already has a tag with this name."), field="name")
    tag = Tag(group=group, name=name, color=normalise_color(color))
    db.session.add(tag)
    db.session.flush()
    return tag


def update_tag(tag: Tag, *, name: str | None = None, color: str | None = None) -> Tag:
    """Rename and/or recolour a tag."""
    if name is not None:
        name = _check_name(name)
        if tag_name_taken(tag.group, name, exclude_id=tag.id):
            raise TagRuleError(_l("This group already has a tag with this name."), field="name")
        tag.name = name
    if color is not None:
        tag.color = normalise_color(color)
    db.session.flush()
    return tag


def delete_tag(tag: Tag) -> int:
    """Delete a tag, untagging its customers; returns how many customers carried it."""
    affected = customers_with_tag(tag)
    before = audit.customer_tags_snapshot(_customers_of(tag.id))
    _untag_and_delete(tag, customer_tags.c.tag_id == tag.id, before)
    return affected


def would_replace(customer: Customer, tag: Tag) -> list[Tag]:
    """The tags that putting `tag` on the customer takes off (apply_tag's rule): the other tag
    of its group when the group is single-choice, else none."""
    if tag.group.multiple:
        return []
    return [t for t in customer.tags if t.group_id == tag.group_id and t.id != tag.id]


def apply_tag(customer: Customer, tag: Tag) -> list[Tag]:
    """Put `tag` on a customer. The single-choice rule: a customer carries at most one tag
    of a single-choice group, so putting one on replaces the group's other tag.

    Its one home for a customer's tags in the session: every path that puts a tag on a
    customer goes through crm.customers.services.add_tag, which calls this (the customer
    page's picker, the list's bulk tagging, set_tags). merge_tags applies the same rule to
    all the source's customers at once, in SQL. Returns the tags it replaced (empty for a
    multiple-choice group)."""
    replaced = would_replace(customer, tag)
    for other in replaced:
        customer.tags.remove(other)
    if tag not in customer.tags:
        customer.tags.append(tag)
    return replaced


@dataclass
class MergeResult:
    """What a merge did, to tell the user."""

    source_name: str
    target_name: str
    customers: int = 0          # customers that carried the source
    gained: int = 0             # of those, how many got the target
    already: int = 0            # of those, how many already had the target
    single_choice_dropped: int = 0  # customers that lost another tag of the target's group
    dropped_tag_names: list[str] = field(default_factory=list)


def merge_preview(source: Tag, target: Tag) -> MergeResult:
    """What merging `source` into `target` would do, without doing it."""
    _check_merge(source, target)
    source_customers = _customers_of(source.id)
    result = MergeResult(source_name=source.name, target_name=target.name)
    result.customers = db.session.execute(
        select(func.count()).select_from(source_customers.subquery())).scalar_one()
    result.already = db.session.execute(
        select(func.count()).select_from(customer_tags).where(
            customer_tags.c.tag_id == target.id,
            customer_tags.c.customer_id.in_(source_customers))).scalar_one()
    result.gained = result.customers - result.already
    if not target.group.multiple:
        conflicting = _conflicting_rows(source, target, source_customers)
        result.single_choice_dropped = db.session.execute(
            select(func.count(func.distinct(conflicting.c.customer_id)))).scalar_one()
        result.dropped_tag_names = sorted(db.session.execute(
            select(func.distinct(Tag.name)).join(conflicting, conflicting.c.tag_id == Tag.id)
        ).scalars())
    return result


def merge_tags(source: Tag, target: Tag) -> MergeResult:
    """Merge `source` into `target`.

    Every customer of the source gets the target unless it already has it; then the
    source is deleted. When the target's group is single-choice, a customer that would
    end up with two tags of that group keeps only the target.
    """
    result = merge_preview(source, target)
    source_customers = _customers_of(source.id)
    before = audit.customer_tags_snapshot(source_customers)
    if not target.group.multiple:
        conflicting_tags = select(Tag.id).where(
            Tag.group_id == target.group_id, Tag.id.not_in([target.id, source.id]))
        db.session.execute(delete(customer_tags).where(
            customer_tags.c.customer_id.in_(source_customers),
            customer_tags.c.tag_id.in_(conflicting_tags)))
    gaining = db.session.execute(
        source_customers.except_(_customers_of(target.id))).scalars().all()
    if gaining:
        db.session.execute(insert(customer_tags),
                           [{"customer_id": cid, "tag_id": target.id} for cid in gaining])
    _untag_and_delete(source, customer_tags.c.tag_id == source.id, before)
    return result


def _check_merge(source: Tag, target: Tag) -> None:
    if source.id == target.id:
        raise TagRuleError(_l("Choose one of the other tags."), field="target_id")


def _customers_of(tag_id: int):
    """The ids of the customers carrying a tag (an alias, so it nests in customer_tags queries)."""
    ct = customer_tags.alias()
    return select(ct.c.customer_id).where(ct.c.tag_id == tag_id)


def _conflicting_rows(source: Tag, target: Tag, source_customers):
    """The customer_tags rows a merge into a single-choice group would remove."""
    return (select(customer_tags.c.customer_id, customer_tags.c.tag_id)
            .join(Tag, Tag.id == customer_tags.c.tag_id)
            .where(Tag.group_id == target.group_id,
                   Tag.id.not_in([target.id, source.id]),
                   customer_tags.c.customer_id.in_(source_customers))).subquery()


def _untag_and_delete(record, tag_rows, before) -> None:
    """Delete the customer_tags rows `tag_rows` selects, then `record` (the tag or group they
    were of); the audit trail records each customer's tags as they were (`before`) and are."""
    db.session.execute(delete(customer_tags).where(tag_rows))
    db.session.delete(record)
    db.session.flush()
    audit.record_customer_tag_changes(before)
    _expire_customers()


def _expire_customers() -> None:
    """Bulk statements bypass the loaded Customer.tags collections: reload them next time."""
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, Customer):
            db.session.expire(obj, ["tags"])
