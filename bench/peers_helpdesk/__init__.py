"""A minimal django-helpdesk project for bench/peers.py: settings, URLs, ASGI and the setup it
runs in django-helpdesk's own virtualenv (the script installs it; nothing of it is here)."""
