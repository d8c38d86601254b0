"""Application-service mode: the homeserver pushes events to the bot instead of ``/sync``.

For operators who run their own homeserver: ``affinity appservice-registration`` writes the
registration file the homeserver loads (``registration.py``); the bot then listens for
transactions (``listener.py``), stores each transaction id before it acknowledges it
(``transactions.py``), sends with the application service's token without rate limits, and
keeps end-to-end encryption through nio with a ``/sync`` filtered to no rooms for to-device
messages, device lists and key counts (``runtime.py``, ``session.py``). See docs/operators.md,
"Application-service mode".
"""
