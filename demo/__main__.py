"""``python -m demo``: set up the museum and serve it on http://127.0.0.1:8000.

It migrates the database, creates (or resets) the demo superuser, issues a
fresh invitation, prints the admin login and the invitation's one-link URL,
and runs Django's development server.
"""

from __future__ import annotations

import argparse
import errno
import os
import secrets
import socket
import sys


def port_problem(addr: str, port: int) -> str | None:
    """Tell why the server could not listen on ``addr:port``, or None if it can."""
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As the development server does, so that a port in TIME_WAIT is not "busy".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((addr, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return "is already in use"
            return f"cannot be used ({error.strerror})"
    return None


def free_port_after(addr: str, port: int, tries: int = 20) -> int | None:
    """The first port after ``port`` that is free on ``addr``."""
    for candidate in range(port + 1, min(port + 1 + tries, 65536)):
        if port_problem(addr, candidate) is None:
            return candidate
    return None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="Set up and serve the django-ticketoffice demo site, the museum.",
        epilog="DATABASE_URL and REDIS_URL switch to PostgreSQL (or any dj-database-url "
        "URL) and to Redis through django-redis. DEMO_ADMIN_PASSWORD fixes the admin "
        "password (a random one is printed otherwise).",
    )
    parser.add_argument("--addr", default="127.0.0.1", help="address to serve on")
    parser.add_argument(
        "--port", type=int, default=8000, help="port to serve on (8000); checked before setup"
    )
    parser.add_argument("--guest", default="Ada", help="first name on the fresh invitation")
    parser.add_argument("--admin", default="admin", help="username of the demo superuser")
    parser.add_argument(
        "--no-serve", action="store_true", help="set up and print the links, then exit"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Before anything is written or printed: a busy port must not leave a reset
    # password and a fresh invitation for a server that never starts.
    if not args.no_serve:
        problem = port_problem(args.addr, args.port)
        if problem:
            suggestion = free_port_after(args.addr, args.port) or args.port + 1
            print(
                f"Port {args.port} on {args.addr} {problem}: nothing was set up.\n"
                f"Choose another port, e.g.: python -m demo --port {suggestion}",
                file=sys.stderr,
            )
            return 2
    # Always the demo's settings, even when a test runner exported others.
    os.environ["DJANGO_SETTINGS_MODULE"] = "demo.settings"
    host = "127.0.0.1" if args.addr in ("0.0.0.0", "::") else args.addr
    os.environ.setdefault("DEMO_BASE_URL", f"http://{host}:{args.port}")

    import django

    django.setup()

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from demo.office import issue_invitation

    call_command("migrate", interactive=False, verbosity=0)

    password = os.environ.get("DEMO_ADMIN_PASSWORD") or secrets.token_urlsafe(9)
    user_model = get_user_model()
    admin, _created = user_model.objects.get_or_create(
        username=args.admin, defaults={"email": f"{args.admin}@example.com"}
    )
    admin.is_staff = admin.is_superuser = admin.is_active = True
    admin.set_password(password)
    admin.save()

    invitation = issue_invitation(args.guest)
    base = settings.TICKETOFFICE_BASE_URL.rstrip("/")
    database = settings.DATABASES["default"]
    cache = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    print(
        "\nThe museum: a django-ticketoffice demo\n"
        f"  database:        {database['ENGINE'].rsplit('.', 1)[-1]} {database['NAME']}\n"
        f"  stamp cache:     {cache}\n"
        f"  admin:           {base}/admin/\n"
        f"  login:           {args.admin}\n"
        f"  password:        {password}\n"
        f"  invitation for {args.guest}: {invitation}\n"
        f"  password reset:  {base}/accounts/reset/\n",
        flush=True,
    )
    if args.no_serve:
        return 0
    call_command("runserver", f"{args.addr}:{args.port}", use_reloader=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
