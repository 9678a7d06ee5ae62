"""Resolution time no longer counts cases the bot ended (cases/metrics/figures.py, RESOLVED): the
days already rolled up hold the old histograms, so each is marked for recomputing. Until the
beat task's next pass recomputes it (a time zone it does not recognise), the page reads that
day directly, as for any day not settled."""

from django.db import migrations

REDEFINED = "(redefined: recompute)"


def unsettle_rolled_up_days(apps, schema_editor):
    apps.get_model("cases", "MetricsDay").objects.update(time_zone=REDEFINED)


class Migration(migrations.Migration):
    dependencies = [("cases", "0025_metrics_rollups")]

    # Backwards the rows are simply left to be recomputed as well: either definition's pass
    # rewrites them.
    operations = [migrations.RunPython(unsettle_rolled_up_days, unsettle_rolled_up_days)]
