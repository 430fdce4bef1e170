"""Why deals are lost: the reasons offered when an opportunity moves to a lost stage."""
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import db
from crm.models.base import shown_name

# Names of the built-in lost reasons, shown in the user's language until an admin renames
# them (then the stored name wins).
DEFAULT_LOST_REASON_NAMES = {
    "price": _l("Price"),
    "competitor": _l("Competitor"),
    "no_budget": _l("No budget"),
    "no_decision": _l("No decision"),
    "timing": _l("Timing"),
    "product_fit": _l("Product fit"),
    "unresponsive": _l("Unresponsive"),
    "other": _l("Other"),
}


class LostReason(db.Model):
    __tablename__ = "lost_reasons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str | None] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    @property
    def display_name(self) -> str:
        return shown_name(self.name, self.key, DEFAULT_LOST_REASON_NAMES)
