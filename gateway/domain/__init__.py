"""Pure domain logic for creditchain.

Nothing in this package performs I/O beyond reading packaged data, reads the clock,
draws randomness, or imports web, database or chain libraries; time and randomness are
always passed in by the caller.
"""
