"""The anti-corruption plan's progress rounds as use cases and jobs: which rounds are open and when
they are due (periods), reporting an item (reporting), reminders, the summary and its chart, and
importing the plan. Every door (chat, desk, command line) calls these."""
