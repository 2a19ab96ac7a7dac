"""The kernel: the organisation file, texts, message types and the pure rules (no I/O, no SQL)."""
