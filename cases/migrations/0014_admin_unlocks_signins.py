"""The admin role (0002_roles) unlocks sign-ins (issue 13): it sees and deletes django-axes'
access attempts, and reads its sign-in and failure logs, on the desk's page and in the admin."""

from django.apps.registry import Apps
from django.contrib.auth.management import create_permissions
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

GRANTS = [
    "view_accessattempt",
    "delete_accessattempt",
    "view_accessfailurelog",
    "view_accesslog",
]
GROUP = "admin"


def grant_unlock(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    # Permissions are normally made after migrate; the group needs Axes' now.
    axes = apps.get_app_config("axes")
    previous = getattr(axes, "models_module", None)
    axes.models_module = True  # create_permissions skips apps it thinks have none
    create_permissions(axes, apps=apps, verbosity=0)
    axes.models_module = previous
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = Permission.objects.filter(content_type__app_label="axes", codename__in=GRANTS)
    for group in Group.objects.filter(name=GROUP):
        group.permissions.add(*permissions)


def revoke_unlock(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = Permission.objects.filter(content_type__app_label="axes", codename__in=GRANTS)
    for group in Group.objects.filter(name=GROUP):
        group.permissions.remove(*permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0013_canned_replies"),
        ("axes", "0010_accessattemptexpiration"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant_unlock, revoke_unlock)]
