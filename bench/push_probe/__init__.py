"""The push benchmark's probe: when each intake's commit happened, as the server saw it. The
live frame is sent by an on-commit callback, so the moment it starts is the commit; the probe
notes it for every ``case.created`` frame, after handing the frame on, in a Redis hash. Only
``bench/push_settings.py`` installs it."""

COMMITS_KEY = "bench:push:commits"
