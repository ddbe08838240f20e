"""The base of every error caused by user input: entry points print it as a paragraph, exit 2."""


class UserError(ValueError):
    """Bad input (a file, key or value) with a message that names it and says what is expected."""
