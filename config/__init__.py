# The job system's app is loaded with Django, so ``shared_task``s queue on its broker (the standard
# Django + Celery set-up; without REDIS_URL the broker is in memory).
from tutor.jobs import app as celery_app

__all__ = ["celery_app"]
