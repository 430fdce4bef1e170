"""The board (销售管道): a column per stage, cards moved by dragging or by a select."""
from flask import Blueprint

bp = Blueprint("board", __name__)

from crm.board import routes  # noqa: E402,F401
