"""Issue 16: who holds the conversation (``held_by``: a person, or null for the bot), the
``returned`` status (the case handed back to the bot, closed like a resolved one, so a new
handoff of the conversation opens a new case), ``returned_at`` and ``is_bounce_back``.

Backwards: returned cases become resolved (at their return time), so the old one-open-case
constraint holds again."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


OPEN_WORK = ["assigned", "awaiting_customer"]


def holders_from_status(apps, schema_editor):
    """A person holds the conversation of every case being worked: its assignee."""
    Case = apps.get_model("cases", "Case")
    Case.objects.filter(status__in=OPEN_WORK, assignee__isnull=False).update(
        held_by=models.F("assignee"), held_since=models.F("first_claimed_at")
    )


def returned_to_resolved(apps, schema_editor):
    Case = apps.get_model("cases", "Case")
    Case.objects.filter(status="returned").update(
        status="resolved", resolved_at=models.F("returned_at")
    )


class Migration(migrations.Migration):

    dependencies = [
        ('cases', '0018_integration_platform'),
        ('queues', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # (RunPython last: rows changed before a schema change on PostgreSQL would leave
        # pending trigger events on the table.)
        migrations.RemoveConstraint(
            model_name='case',
            name='one_open_case_per_conversation',
        ),
        migrations.AddField(
            model_name='case',
            name='held_by',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='case',
            name='held_since',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='case',
            name='is_bounce_back',
            field=models.BooleanField(default=False, help_text='The conversation came back within 24 h of its return to the bot (previous_case is the returned case).'),
        ),
        migrations.AddField(
            model_name='case',
            name='returned_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='case',
            name='status',
            field=models.CharField(choices=[('waiting', 'Waiting'), ('assigned', 'Assigned'), ('awaiting_customer', 'Awaiting customer'), ('resolved', 'Resolved'), ('returned', 'Returned to the bot')], default='waiting', max_length=20),
        ),
        migrations.AddIndex(
            model_name='case',
            index=models.Index(condition=models.Q(('status', 'returned')), fields=['handed_off_at'], name='case_returned'),
        ),
        migrations.AddConstraint(
            model_name='case',
            constraint=models.UniqueConstraint(condition=models.Q(('status__in', ['resolved', 'returned']), _negated=True), fields=('integration', 'external_id'), name='one_open_case_per_conversation'),
        ),
        migrations.RunPython(holders_from_status, returned_to_resolved),
    ]
