from django.apps import AppConfig


class LtiConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tutor.lti"
    label = "tutor_lti"
    verbose_name = "LMS launch (LTI 1.3)"

    def ready(self) -> None:
        # A checked answer may change a score the LMS holds: mark it for the next send (tutor.lti.signals).
        from tutor.lti import signals

        signals.connect()
