"""Celery tasks that call the app's server (after-callbacks): see accounts/webhooks.py."""
