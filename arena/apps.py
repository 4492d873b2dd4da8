from django.apps import AppConfig


class ArenaConfig(AppConfig):
    name = "arena"
    verbose_name = "Evaluation arena"
    default_auto_field = "django.db.models.BigAutoField"
