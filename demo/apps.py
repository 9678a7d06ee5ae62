from django.apps import AppConfig


class DemoBotConfig(AppConfig):
    name = "demo"
    label = "demo_bot"  # the label its tables and migrations were made under
    verbose_name = "Demo bot platform"
