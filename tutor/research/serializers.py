"""Serializers of the research API (``tutor.research.api``).

Every row names its student by pseudonym (``tutor.research.exports.pseudonym``) and carries the student's
experiment condition in the course. ``username`` is present only when the view was asked for
identities and the researcher's grant allows them; the views pass what the serializers need in
their context (``anon``: pseudonym cache, ``conditions``, ``identifiable``, ``kc_slugs``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from tutor.models import Attempt, Turn, TutoringSession

DATE_HELP = "A day (YYYY-MM-DD, meaning 00:00 UTC) or a time (YYYY-MM-DDTHH:MM[:SS][+HH:MM|Z]; UTC if no offset)."


@extend_schema_field(OpenApiTypes.DATETIME)
class DayOrTimeField(serializers.Field):
    """A day or a time, as a timezone-aware datetime."""

    default_error_messages = {"invalid": "{value!r} is not a date or time. " + DATE_HELP}

    def to_internal_value(self, data: Any) -> datetime:
        text = str(data).strip()
        try:
            at = parse_datetime(text)
            day = None if at is not None else parse_date(text)
        except ValueError:  # well formed but impossible, e.g. 2026-02-30
            at = day = None
        if at is None and day is not None:
            at = datetime.combine(day, time.min, tzinfo=UTC)
        if at is not None:
            try:  # the database compares in UTC: 0001-01-01T00:00+01:00 has no UTC time
                return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).astimezone(UTC)
            except OverflowError:
                pass
        self.fail("invalid", value=text[:40])
        raise AssertionError  # fail() raises

    def to_representation(self, value: date | datetime) -> str:
        return value.isoformat()


class ResearchQuerySerializer(serializers.Serializer[Any]):
    """Query parameters common to the research endpoints."""

    since = DayOrTimeField(required=False, help_text="Only rows at or after this time. " + DATE_HELP)
    until = DayOrTimeField(required=False, help_text="Only rows before this time. " + DATE_HELP)
    identifiable = serializers.BooleanField(
        required=False, default=False,
        help_text="Add each student's username. Refused (403) unless your grant on the course is identifiable.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        since, until = attrs.get("since"), attrs.get("until")
        if since is not None and until is not None and since >= until:
            raise serializers.ValidationError({"until": "until must be after since."})
        return attrs


class GrantedCourseSerializer(serializers.Serializer[Any]):
    slug = serializers.CharField(source="course.slug")
    title = serializers.CharField(source="course.title")
    identifiable = serializers.BooleanField(help_text="Whether you may ask for usernames on this course.")
    granted_at = serializers.DateTimeField()


class TokenRequestSerializer(serializers.Serializer[Any]):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=200, style={"input_type": "password"}, trim_whitespace=False)


class TokenSerializer(serializers.Serializer[Any]):
    token = serializers.CharField(help_text="Send as the header `Authorization: Token <token>`.")


class _Pseudonymised(serializers.Serializer[Any]):
    """Adds ``anon_student_id``, the condition and (when identifiable) the username of ``student_id``."""

    anon_student_id = serializers.SerializerMethodField()
    condition_name = serializers.SerializerMethodField()
    condition_type = serializers.SerializerMethodField()
    username = serializers.SerializerMethodField(
        help_text="Only with identifiable=true on an identifiable grant; absent otherwise.",
    )

    def _student_id(self, obj: Any) -> int:
        raise NotImplementedError

    def get_anon_student_id(self, obj: Any) -> str:
        anon: dict[int, str] = self.context["anon"]
        return anon[self._student_id(obj)]

    def get_condition_name(self, obj: Any) -> str:
        return str(self.context["conditions"].get(self._student_id(obj), ("", ""))[0])

    def get_condition_type(self, obj: Any) -> str:
        return str(self.context["conditions"].get(self._student_id(obj), ("", ""))[1])

    def get_username(self, obj: Any) -> str:
        if not self.context.get("identifiable"):
            return ""
        return str(self.context["usernames"].get(self._student_id(obj), ""))

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not self.context.get("identifiable"):
            data.pop("username", None)
        return data


class _Redacted(serializers.Serializer[Any]):
    """Free-text fields (``REDACTED_FIELDS``) with personal details replaced unless the export is
    identifiable (``context["redaction"]``, see ``tutor.research.redaction``), and ``redacted``: how
    many spans were replaced in this row."""

    REDACTED_FIELDS: tuple[str, ...] = ()
    redacted = serializers.SerializerMethodField(
        help_text="How many personal details (names, e-mail, phone, URL, address) were replaced in the free "
                  "text of this row; always 0 with identifiable=true.",
    )

    def get_redacted(self, obj: Any) -> int:
        return 0  # counted in to_representation, where the fields are redacted

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        redaction = self.context.get("redaction")
        if redaction is not None:
            count = 0
            for name in self.REDACTED_FIELDS:
                data[name], n = redaction.text(data.get(name))
                count += n
            data["redacted"] = count
        return data


class ResearchSessionSerializer(_Pseudonymised, serializers.ModelSerializer[TutoringSession]):
    item = serializers.CharField(source="item.slug")
    n_turns = serializers.IntegerField(help_text="Turns in the session.")

    class Meta:
        model = TutoringSession
        fields = ["id", "anon_student_id", "username", "condition_name", "condition_type", "item", "status",
                  "n_turns", "created", "updated"]

    def _student_id(self, obj: Any) -> int:
        return int(obj.student_id)


class ResearchTurnSerializer(_Redacted, _Pseudonymised, serializers.ModelSerializer[Turn]):
    REDACTED_FIELDS = ("text",)

    item: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    step = serializers.SerializerMethodField(help_text="Step position, 1-based.")
    attempt_id = serializers.SerializerMethodField()

    class Meta:
        model = Turn
        fields = ["id", "session_id", "anon_student_id", "username", "condition_name", "condition_type", "seq",
                  "role", "text", "redacted", "intent", "item", "step", "move", "mathdial_move", "hint_level",
                  "released_answer", "state", "backend", "model_id", "latency_ms", "attempt_id", "created"]

    def _student_id(self, obj: Any) -> int:
        return int(obj.session.student_id)

    def get_step(self, turn: Turn) -> int | None:
        return turn.step.position + 1 if turn.step is not None else None

    def get_attempt_id(self, turn: Turn) -> int | None:
        try:
            return int(turn.attempt.pk)
        except Attempt.DoesNotExist:
            return None


class ResearchAttemptSerializer(_Redacted, _Pseudonymised, serializers.ModelSerializer[Attempt]):
    REDACTED_FIELDS = ("raw", "parsed")

    session_id = serializers.IntegerField()
    turn_id = serializers.IntegerField()
    item = serializers.CharField(source="step.item.slug")
    step = serializers.SerializerMethodField(help_text="Step position, 1-based.")
    misconception = serializers.SerializerMethodField()

    class Meta:
        model = Attempt
        fields = ["id", "session_id", "turn_id", "anon_student_id", "username", "condition_name", "condition_type",
                  "item", "step", "raw", "parsed", "redacted", "outcome", "correct", "partial", "misconception",
                  "p_correct_before", "created"]

    def _student_id(self, obj: Any) -> int:
        return int(obj.session.student_id)

    def get_step(self, attempt: Attempt) -> int:
        return int(attempt.step.position) + 1

    def get_misconception(self, attempt: Attempt) -> str | None:
        return attempt.misconception.name if attempt.misconception is not None else None


class ResearchObservationSerializer(_Pseudonymised, serializers.Serializer[Any]):
    """One answer in the learner model's training data (rows from ``tracing.selectors``)."""

    id = serializers.IntegerField(read_only=True)
    item = serializers.SerializerMethodField(help_text="Item slug, or the item's id in an imported log.")
    kcs = serializers.SerializerMethodField(help_text="Slugs of the knowledge components answered.")
    correct = serializers.BooleanField(read_only=True)
    at = serializers.DateTimeField(read_only=True)
    # A declared field named like Field.source: DRF takes it out of the class attributes.
    source = serializers.CharField(read_only=True, help_text="Where the answer came from: tutor or import.")  # type: ignore[assignment]
    p_correct_before = serializers.FloatField(read_only=True, allow_null=True,
                                              help_text="The model's p(correct) just before the answer.")
    mastery_after = serializers.SerializerMethodField(help_text="KC slug → mastery probability after the answer.")

    def _student_id(self, obj: Any) -> int:
        return int(obj.learner_id)

    def get_item(self, obs: Any) -> str:
        return obs.item.slug if obs.item is not None else obs.item_ref

    def get_kcs(self, obs: Any) -> list[str]:
        slugs: dict[int, str] = self.context["kc_slugs"]
        return [slugs.get(int(k), str(k)) for k in obs.kcs or []]

    def get_mastery_after(self, obs: Any) -> dict[str, float]:
        slugs: dict[int, str] = self.context["kc_slugs"]
        return {slugs.get(int(k), str(k)): float(v) for k, v in (obs.mastery_after or {}).items()}


class ResearchKCStateSerializer(_Pseudonymised, serializers.Serializer[Any]):
    """The learner model's current belief about one student's knowledge of one KC (logit scale; rows
    from ``tracing.selectors``)."""

    id = serializers.IntegerField(read_only=True)
    # A plain serializer has no model for drf-spectacular to type a related field by: the KC's slug.
    kc = serializers.CharField(source="kc.slug", read_only=True)
    mean = serializers.FloatField(read_only=True, help_text="Posterior mean of the state (logit).")
    sd = serializers.SerializerMethodField(help_text="Posterior standard deviation of the state.")
    practised_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def _student_id(self, obj: Any) -> int:
        return int(obj.learner_id)

    def get_sd(self, state: Any) -> float:
        return float(max(state.var, 0.0) ** 0.5)
