from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = "Cases"

    def ready(self) -> None:
        # Django's way to connect signal receivers once the models are loaded: the live layer
        # hears of queue membership changes (queues.signals) without queues importing cases.
        from cases.live import events  # noqa: F401

        # Stored attachment files are removed when their rows are deleted (by any cascade).
        from cases.services import attachments  # noqa: F401
