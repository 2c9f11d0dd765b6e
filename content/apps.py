from django.apps import AppConfig
from django.db.models.signals import m2m_changed, post_delete, post_save


class ContentConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "content"
    verbose_name = "Curriculum"

    def ready(self) -> None:
        from content import models
        from content.version import content_changed

        # Everything the tutor's view of a step is built from (tutor/dialogue_bridge.py). The receiver is
        # module-level, so the signals' weak references keep it.
        for model in (models.Course, models.KnowledgeComponent, models.Item, models.Step, models.Hint,
                      models.Subproblem, models.Misconception):
            post_save.connect(content_changed, sender=model, dispatch_uid=f"content-version-save-{model.__name__}")
            post_delete.connect(content_changed, sender=model,
                                dispatch_uid=f"content-version-delete-{model.__name__}")
        m2m_changed.connect(content_changed, sender=models.Item.kcs.through, dispatch_uid="content-version-item-kcs")
