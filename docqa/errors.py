"""The error a user can fix: bad input, settings or output. The command line prints its message as one
line and exits 2, before any work is done where it can be found out before."""

from __future__ import annotations


class UserError(Exception):
    """Something the user gave is wrong; the message says what and how to fix it."""
