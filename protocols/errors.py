class RuleError(ValueError):
    """A rule of the ritual refused the input; str(exc) is shown to the user.

    Raised as ``RuleError("There is no slot '{name}'.", name=text)``: the English sentence with
    named placeholders and their values, so the runtime can show it in the room's language (the
    sentence is a message id of the catalogue, bots/runtime/i18n_rules.py); ``str(exc)`` is the
    English with the values filled in."""

    def __init__(self, message: str, **values: object) -> None:
        super().__init__(message.format(**values) if values else message)
        self.template = message
        self.values = values
