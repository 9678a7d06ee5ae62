"""The push benchmark's probe: when each intake's commit happened, as the server saw it.

The intake's live frame is sent by an on-commit callback, so the moment that callback starts is
the commit (Django runs it as COMMIT returns). The probe notes that moment for every
``case.created`` frame, after handing the frame on, in a Redis hash the benchmark reads when the
run is over. Only ``bench/push_settings.py`` installs it; the product never does.
"""

COMMITS_KEY = "bench:push:commits"
