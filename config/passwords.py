"""The password hasher: Argon2id at a cost measured for this deployment (see ``PASSWORD_HASHERS`` in
``config/settings.py`` and docs/performance.md).

Django's own ``Argon2PasswordHasher`` asks for 100 MiB and eight lanes per hash; on a small server
eight threads per log-in contend with every other request. One lane and 46 MiB is one of the
minimum Argon2id settings of OWASP's Password Storage Cheat Sheet. The parameters are stored in each
hash, so raising them later re-hashes each password at its owner's next log-in (Django compares them
in ``must_update``).
"""

from __future__ import annotations

from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2idHasher(Argon2PasswordHasher):
    """Argon2id (the variant Django uses), 46 MiB, one pass, one lane. Hashes keep Django's
    ``argon2`` prefix, so Django's own hasher could read them too."""

    time_cost = 1
    memory_cost = 47_104  # KiB
    parallelism = 1
