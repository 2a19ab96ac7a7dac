"""What every conversation uses: the turn, text input, counters, tracking codes."""
