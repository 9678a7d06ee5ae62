"""``{% load rows %}``: the queue row, tier badge and ticking times of cases/live/rows.py, which
renders them for pages and live pushes alike."""

from django import template

from cases.live import rows

register = template.Library()

register.simple_tag(rows.tier_badge)
register.simple_tag(rows.countdown)
register.simple_tag(rows.sla)
register.simple_tag(rows.channel_text, name="channel_label")
register.simple_tag(rows.queue_row_html, name="queue_row")
register.filter("preview", rows.preview_text)
