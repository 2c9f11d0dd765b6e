from django.apps import AppConfig


class TeachingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tutor.teaching"
    label = "teaching"
    verbose_name = "Teaching"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from tutor.models import Attempt
        from tutor.teaching import live

        # The live class view hears of every stored answer (see tutor/teaching/live.py).
        post_save.connect(live.attempt_saved, sender=Attempt, dispatch_uid="teaching-live-answer")
