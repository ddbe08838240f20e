"""The base of every error caused by user input: entry points print it as a paragraph, exit 2."""


class UserError(ValueError):
    """Bad input (a file, key or value) with a message that names it and says what is expected."""


class Stopped(KeyboardInterrupt):
    """A stop asked for by a signal (SIGTERM; SIGINT arrives as KeyboardInterrupt): the command
    cleans up as for Ctrl-C, and the exit status is 128 + the signal's number."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
