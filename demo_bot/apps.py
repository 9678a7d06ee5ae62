from django.apps import AppConfig


class DemoBotConfig(AppConfig):
    name = "demo_bot"
    verbose_name = "Demo bot platform"
