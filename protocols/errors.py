class RuleError(ValueError):
    """A rule of the ritual refused the input; str(exc) is shown to the user."""
