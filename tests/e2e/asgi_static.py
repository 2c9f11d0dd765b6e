"""Test-only ASGI entry point: the real application, plus Django's static files (daphne run on its
own serves no static files; only ``runserver`` adds them)."""

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from config.asgi import application as tutor_application

application = ASGIStaticFilesHandler(tutor_application)
