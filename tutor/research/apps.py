from django.apps import AppConfig


class ResearchConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tutor.research"
    label = "research"
    verbose_name = "Research"
