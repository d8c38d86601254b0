"""Operator commands beyond run and check-config: forget, wipe, backup, restore.

None of them starts a bot or talks to a homeserver (except ``wipe --revoke``, which logs the
bots' devices out first); they work on ``data_dir`` alone, so they also work when the secrets of
the config are not in the environment (an emergency wipe must not wait for a password). Exit
status: 0 done, 1 done only in part, 2 refused (bad input, a missing flag, a wrong passphrase).

One module per concern: :mod:`.common` (the config without secrets, the data directory's files,
shredding), :mod:`.forget`, :mod:`.wipe`, :mod:`.backup_format` (the encrypted file),
:mod:`.backup`, :mod:`.restore`, and :mod:`.parser`, which registers them with ``affinity``.
"""
