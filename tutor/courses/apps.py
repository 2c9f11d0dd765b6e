from django.apps import AppConfig


class CoursesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tutor.courses"
    label = "courses"
    verbose_name = "How courses are taught"
