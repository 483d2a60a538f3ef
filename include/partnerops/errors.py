"""Errors meant for users: they carry a plain message and never print a traceback."""


class UserError(Exception):
    """Something the user can fix (bad input, unreachable server, wrong option).

    The CLI prints the message and exits non-zero; anything else is a bug and keeps its
    traceback.
    """
