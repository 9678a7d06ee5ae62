"""Canned replies (issue 12) and their uses, and the right to manage them for supervisors and
admins (the groups of 0002_roles). Agents only insert them."""

import django.db.models.deletion
from django.apps.registry import Apps
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

MANAGE = "manage_cannedreply"
GROUPS = ("supervisor", "admin")


def grant_manage(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    # Permissions are normally made after migrate; the groups need this one now.
    cases = apps.get_app_config("cases")
    previous = getattr(cases, "models_module", None)
    cases.models_module = True  # create_permissions skips apps it thinks have none
    create_permissions(cases, apps=apps, verbosity=0)
    cases.models_module = previous
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.get(content_type__app_label="cases", codename=MANAGE)
    for group in Group.objects.filter(name__in=GROUPS):
        group.permissions.add(permission)


def revoke_manage(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(content_type__app_label="cases", codename=MANAGE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0012_case_waiting_search"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("queues", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="CannedReply",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=120)),
                ("body", models.TextField()),
                ("is_active", models.BooleanField(default=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "queue",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="canned_replies",
                        to="queues.queue",
                    ),
                ),
            ],
            options={
                "ordering": ["name", "id"],
                "permissions": [
                    ("manage_cannedreply", "Can create, edit and archive canned replies")
                ],
            },
        ),
        migrations.CreateModel(
            name="CannedReplyUse",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("used_at", models.DateTimeField()),
                (
                    "agent",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "case",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="cases.case",
                    ),
                ),
                (
                    "reply",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="uses",
                        to="cases.cannedreply",
                    ),
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="cannedreply",
            index=models.Index(fields=["is_active", "queue", "name"], name="canned_active"),
        ),
        migrations.AddIndex(
            model_name="cannedreplyuse",
            index=models.Index(fields=["used_at", "reply"], name="canned_use_period"),
        ),
        migrations.RunPython(grant_manage, revoke_manage),
    ]
