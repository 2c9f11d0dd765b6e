from rest_framework import serializers

from tutor.models import Turn, TutoringSession


class TurnSerializer(serializers.ModelSerializer):
    class Meta:
        model = Turn
        fields = ["id", "seq", "role", "text", "move", "mathdial_move", "hint_level", "state", "backend",
                  "model_id", "latency_ms", "created"]


class SessionSerializer(serializers.ModelSerializer):
    item: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    course: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = TutoringSession
        fields = ["id", "course", "item", "status", "created", "updated"]


class SessionStartSerializer(serializers.Serializer):
    course = serializers.SlugField(help_text="Course slug.")
    item = serializers.CharField(help_text="Item slug or source id (e.g. a MathDial qid).", max_length=200)


class MessageSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=2000, trim_whitespace=True)
    client_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="",
                                      help_text="Your id for this message: a retry with the same id is stored once.")


class TranscriptSerializer(serializers.Serializer):
    session = SessionSerializer()
    turns = TurnSerializer(many=True)
