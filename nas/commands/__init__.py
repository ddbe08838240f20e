"""One module per user command, wiring the packages below it."""
