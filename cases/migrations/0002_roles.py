"""The three roles of DESIGN section 9 as groups with their permissions."""

from django.apps.registry import Apps
from django.contrib.auth.management import create_permissions
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

AGENT = ["cases.work_case", "cases.view_case", "cases.view_intent", "queues.view_queue"]
SUPERVISOR = [
    *AGENT,
    "cases.reassign_case",
    "queues.view_all_queues",
    "queues.manage_memberships",
    "queues.view_membership",
    "queues.change_membership",
    "queues.add_membership",
    "queues.delete_membership",
]
ADMIN_MODELS = {
    "cases": ["integration", "intent", "case", "message", "attemptedstep", "caseevent",
              "intentcorrection", "delivery", "csatresponse", "idempotencykey"],
    "queues": ["queue", "membership", "ruleset", "routingrule"],
}
ADMIN = [
    *SUPERVISOR,
    "queues.manage_routing",
    *(
        f"{app}.{action}_{model}"
        for app, models in ADMIN_MODELS.items()
        for model in models
        for action in ("add", "change", "delete", "view")
    ),
]
ROLES = {"agent": AGENT, "supervisor": SUPERVISOR, "admin": ADMIN}


def create_roles(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    # Permissions are normally made after migrate; the groups need them now.
    for app_config in apps.get_app_configs():
        previous = getattr(app_config, "models_module", None)
        app_config.models_module = True  # create_permissions skips apps it thinks have none
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = previous
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        permissions = []
        for dotted in dict.fromkeys(codenames):
            app_label, codename = dotted.split(".")
            permissions.append(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(permissions)


def remove_roles(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0001_initial"),
        ("queues", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
