"""Sign-up slots of a day of action: ``!slot``, ``!slot claim``, ``!slot release``, reactions."""
