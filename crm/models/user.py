"""Users: who logs in, with their role, language and time zone."""
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from crm.extensions import db
from crm.models.base import UTCDateTime, utcnow

ROLES = ("admin", "manager", "sales")
LANGUAGES = ("zh_CN", "en")


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Stored lower-cased, so uniqueness is case-insensitive on every database.
    email: Mapped[str] = mapped_column(String(254), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default="sales")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    language: Mapped[str] = mapped_column(String(10), default="zh_CN")
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @staticmethod
    def normalise_email(email: str) -> str:
        return (email or "").strip().lower()

    @classmethod
    def by_email(cls, email: str):
        return db.session.execute(
            db.select(cls).filter_by(email=cls.normalise_email(email))
        ).scalar_one_or_none()

    # The login session this request came with (crm.auth.sessions): set by the user loader
    # and at login, so that get_id() writes it into the session and remember cookies.
    login_session_id = None
    login_token = None

    def get_id(self) -> str:
        """What Flask-Login keeps in the session and remember cookies: the user's id and the
        token of this browser's login session, so that ending the session refuses both."""
        return f"{self.id}:{self.login_token}" if self.login_token else str(self.id)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return bool(self.active)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_manager(self) -> bool:
        """Managers and admins see and manage every record."""
        return self.role in ("admin", "manager")

    def __repr__(self) -> str:
        return f"<User {self.email}>"
