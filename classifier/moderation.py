"""Write operations of moderation: decisions, score revisions and thresholds.

A message's ``status`` changes only here, in the same transaction as the decision that records it, and its
scores and flag change only together with a new ``ScoreRevision``. So the current state of a message is
always the last entry of its history.
"""

from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from .ml import LABELS
from .models import (
    Action,
    ModerationDecision,
    Prediction,
    RevisionCause,
    ScoreRevision,
    Status,
    ThresholdChange,
    ThresholdPolicy,
)
from .scoring import threshold_policy_changed, thresholds

# The status each action moves a message to, and the statuses it may start from.
TRANSITIONS: dict[str, tuple[frozenset[str], Status | None]] = {
    Action.APPROVE: (frozenset({Status.PENDING, Status.REMOVED}), Status.APPROVED),
    Action.REMOVE: (frozenset({Status.PENDING, Status.APPROVED}), Status.REMOVED),
    Action.RESTORE: (frozenset({Status.REMOVED}), Status.APPROVED),
    Action.RELABEL: (frozenset(Status.values), None),  # None: the status stays as it is
    Action.ESCALATE: (frozenset({Status.PENDING, Status.APPROVED}), Status.PENDING),
}

BULK_CHUNK = 500


def _status_after(action: str, before: str) -> str:
    allowed, after = TRANSITIONS[action]
    if before not in allowed:
        raise ValidationError(
            f"A message that is {Status(before).label} cannot be given the action {action}."
        )
    return before if after is None else after


def _clean_labels(action: str, labels: dict[str, int] | None) -> dict[str, int] | None:
    if action != Action.RELABEL:
        if labels:
            raise ValidationError("Corrected labels go with a relabel decision only.")
        return None
    if not labels or set(labels) != set(LABELS) or any(value not in (0, 1) for value in labels.values()):
        raise ValidationError(f"A relabel decision needs 0 or 1 for each of {', '.join(LABELS)}.")
    return {label: int(labels[label]) for label in LABELS}


def decision_record(
    *,
    prediction: Prediction,
    moderator: User,
    action: Action | str,
    reason: str = "",
    labels: dict[str, int] | None = None,
) -> ModerationDecision:
    """Record a moderator's decision about ``prediction`` and move the message to its new status."""
    if action not in Action.values:
        raise ValidationError(f"Unknown action {action!r}; use one of {', '.join(Action.values)}.")
    clean_labels = _clean_labels(action, labels)
    with transaction.atomic():
        # Lock the row so two moderators deciding at once each see the other's status.
        before = Prediction.objects.select_for_update().values_list("status", flat=True).get(pk=prediction.pk)
        after = _status_after(action, before)
        decision = ModerationDecision(
            prediction=prediction,
            moderator=moderator,
            action=action,
            status_before=before,
            status_after=after,
            labels=clean_labels,
            reason=reason,
        )
        decision.full_clean()
        decision.save()
        Prediction.objects.filter(pk=prediction.pk).update(status=after)
    prediction.status = after
    return decision


def decisions_record_many(
    *, predictions: QuerySet[Prediction], moderator: User, action: Action | str, reason: str = ""
) -> int:
    """Record ``action`` on every message of ``predictions`` it applies to; return how many it applied to.

    Messages whose status the action cannot start from are skipped. Decisions are written with
    ``bulk_create`` and statuses with one UPDATE per chunk of ids, all in one transaction.
    """
    if action not in Action.values or action == Action.RELABEL:
        raise ValidationError(f"{action!r} cannot be applied in bulk.")
    allowed, after = TRANSITIONS[action]
    assert after is not None
    now = timezone.now()
    done = 0
    with transaction.atomic():
        rows = list(
            predictions.select_for_update()
            .filter(status__in=allowed)
            .order_by("id")
            .values_list("id", "status")
        )
        for start in range(0, len(rows), BULK_CHUNK):
            chunk = rows[start : start + BULK_CHUNK]
            ModerationDecision.objects.bulk_create(
                ModerationDecision(
                    prediction_id=pk,
                    moderator=moderator,
                    created_at=now,
                    action=action,
                    status_before=before,
                    status_after=after,
                    reason=reason,
                )
                for pk, before in chunk
            )
            Prediction.objects.filter(id__in=[pk for pk, _ in chunk]).update(status=after)
            done += len(chunk)
    return done


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _copy_to_revisions(
    where: str, params: Sequence[Any], cause: RevisionCause, flagged: str = "flagged"
) -> int:
    """Copy the current scores of the rows matching ``where`` into revisions with one INSERT ... SELECT."""
    columns = ", ".join(_quote(label) for label in LABELS)
    source = _quote(Prediction._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_quote(ScoreRevision._meta.db_table)} "
            f"(prediction_id, {columns}, flagged, model_version, created_at, cause) "
            f"SELECT id, {columns}, {flagged}, model_version, %s, %s FROM {source} "
            f"WHERE {where}",
            [timezone.now(), cause.value, *params],
        )
        return cursor.rowcount


def revisions_copy(*, ids: Sequence[int], cause: RevisionCause) -> int:
    """Record a revision of the current scores of each message in ``ids`` (one chunk), set-based."""
    return _copy_to_revisions(f"id IN ({', '.join(['%s'] * len(ids))})", list(ids), cause)


def _over_any(limits: dict[str, float]) -> tuple[str, list[float]]:
    """Return SQL true when a blocked term or a score at or over its threshold flags a row, and its values."""
    sql = " OR ".join(f"{_quote(label)} >= %s" for label in LABELS)
    return f"(blocked_label <> '' OR {sql})", [limits[label] for label in LABELS]


def threshold_set(*, label: str, value: float, user: User) -> ThresholdChange:
    """Set ``label``'s threshold, re-flag every stored message from its stored scores, and audit it.

    No model runs: one INSERT ... SELECT records a revision of each message whose flag changes, then one
    UPDATE flips those flags.
    """
    if label not in LABELS:
        raise ValidationError(f"Unknown label {label!r}; use one of {', '.join(LABELS)}.")
    if not 0.0 <= value <= 1.0:
        raise ValidationError("A threshold is a number from 0 to 1.")
    with transaction.atomic():
        # The policy as stored now, locked: never the cached copy, which may not hold another process's
        # change of the last second, so the re-flag and the audit start from what the database says.
        stored = dict(ThresholdPolicy.objects.select_for_update().values_list("label", "value"))
        limits = thresholds(policy=stored)
        old = limits[label]
        ThresholdPolicy.objects.update_or_create(
            label=label, defaults={"value": value, "updated_by": user, "updated_at": timezone.now()}
        )
        limits[label] = value
        over, params = _over_any(limits)
        differs = f"flagged <> {over}"
        _copy_to_revisions(differs, params, RevisionCause.THRESHOLDS, flagged="NOT flagged")
        table = _quote(Prediction._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET flagged = NOT flagged WHERE {differs}", params)
            changed = cursor.rowcount
        change = ThresholdChange.objects.create(
            label=label, old_value=old, new_value=value, changed_by=user, flags_changed=changed
        )
        transaction.on_commit(threshold_policy_changed)
    threshold_policy_changed()
    return change
