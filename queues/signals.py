"""What queues tell the rest of the desk without knowing it: cases' live layer listens."""

from django.dispatch import Signal

# A user's queues changed (sent after the commit): ``user_id``. Their open pages re-read what
# they may see (cases/live/events.py connects to it).
access_changed = Signal()
