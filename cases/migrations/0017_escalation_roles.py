"""The admin role (0002_roles) edits, dry-runs, publishes and rolls back the escalation policy
(issue 15), and reads risk flag verdicts in the admin."""

from django.apps.registry import Apps
from django.contrib.auth.management import create_permissions
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

GRANTS = ["manage_escalation", "view_escalationpolicy", "view_riskflagreview"]
GROUP = "admin"


def _permissions(apps: Apps) -> list:
    Permission = apps.get_model("auth", "Permission")
    return list(Permission.objects.filter(content_type__app_label="cases", codename__in=GRANTS))


def grant_escalation(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    # Permissions are normally made after migrate; the group needs these now.
    cases = apps.get_app_config("cases")
    previous = getattr(cases, "models_module", None)
    cases.models_module = True  # create_permissions skips apps it thinks have none
    create_permissions(cases, apps=apps, verbosity=0)
    cases.models_module = previous
    for group in apps.get_model("auth", "Group").objects.filter(name=GROUP):
        group.permissions.add(*_permissions(apps))


def revoke_escalation(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    for group in apps.get_model("auth", "Group").objects.filter(name=GROUP):
        group.permissions.remove(*_permissions(apps))


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0016_escalation_timing_and_policy"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant_escalation, revoke_escalation)]
