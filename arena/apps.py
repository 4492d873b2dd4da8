from django.apps import AppConfig


class ArenaConfig(AppConfig):
    name = "arena"
    verbose_name = "Evaluation arena"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Connects the receiver that revokes a user's API token when the password changes, in
        # every process (web, worker, `manage.py changepassword`), not only once DRF loads it.
        from .api import token_auth  # noqa: F401
