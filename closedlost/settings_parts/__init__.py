"""Blocks of closedlost.settings kept in their own modules; settings.py imports them."""
