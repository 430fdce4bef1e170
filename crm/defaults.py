"""What a new install starts with: one pipeline with DOMAIN.md's eight stages, lost reasons."""
from crm.extensions import db
from crm.models import LostReason, Pipeline, Stage

DEFAULT_STAGES = [
    # key, probability, kind, colour, playbook
    ("discover", 10, "open", "#94a3b8", None),
    ("confirm", 20, "open", "#60a5fa", None),
    ("needs_analysis", 30, "open", "#3b82f6", None),
    ("proposal", 50, "open", "#8b5cf6", None),
    ("negotiation", 70, "open", "#f59e0b", None),
    ("signed", 100, "won", "#16a34a", None),
    ("delivered", 100, "won", "#15803d", None),
    ("lost", 0, "lost", "#dc2626", None),
]
DEFAULT_LOST_REASONS = ["price", "competitor", "no_budget", "no_decision", "timing",
                        "product_fit", "unresponsive", "other"]


def ensure_defaults() -> None:
    """Create the default pipeline and lost reasons when there are none (idempotent)."""
    if db.session.execute(db.select(Pipeline.id).limit(1)).first() is None:
        pipeline = Pipeline(key="default", position=0)
        for position, (key, probability, kind, color, playbook) in enumerate(DEFAULT_STAGES):
            pipeline.stages.append(Stage(key=key, position=position, probability=probability,
                                         kind=kind, color=color, playbook=playbook))
        db.session.add(pipeline)
    if db.session.execute(db.select(LostReason.id).limit(1)).first() is None:
        for position, key in enumerate(DEFAULT_LOST_REASONS):
            db.session.add(LostReason(key=key, position=position))
    db.session.flush()
