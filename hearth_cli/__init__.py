"""Hearth's command-line side: the local stack launcher and the `hearth` client."""
