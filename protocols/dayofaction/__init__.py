"""The day of action beyond broadcast and acknowledgement: the pure rules.

- :mod:`.slots`: sign-up slots with capacities, waitlists and a lottery fallback;
- :mod:`.autonomy`: a room sitting a run out (declined, apart from silent), its local note,
  the escalation order liaison -> backup -> coordination rooms;
- :mod:`.liaisons`: a liaison drawn by lottery, its backup, the hand-off at mandate end;
- :mod:`.drills`: a whole run with its offsets compressed, and the per-room ack-time report;
- :mod:`.intake`: survey questions, answers, and counts shown only at k >= 3;
- :mod:`.rides`: ride offers and needs matched by area and time.

Pure: time and randomness are passed in; nothing here knows Matrix or SQL.
"""
