#!/usr/bin/env python
"""Django's command-line utility."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    from django.core.management import execute_from_command_line

    from audit.context import audit_context, system_actor

    # Every command, Django's own too (createsuperuser, changepassword, shell), records its changes as
    # made from the command line by that command; the project's commands and each request name theirs.
    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    with audit_context(actor=system_actor(f"manage.py {command}"), channel="cli"):
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
