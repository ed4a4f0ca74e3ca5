"""Rotating Django's SECRET_KEY without breaking the links already sent."""

# Before: SECRET_KEY = "old-key-...". After the rotation:
SECRET_KEY = "new-key-generated-with-get_random_secret_key"  # noqa: S105
# Tokens signed with the old key stay valid while it is listed here. Remove it
# once the longest ticket lifetime has passed.
SECRET_KEY_FALLBACKS = ["old-key-from-before-the-rotation"]
