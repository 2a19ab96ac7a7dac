"""The anti-corruption plan: progress reports, rounds, summaries, reminders, import."""
