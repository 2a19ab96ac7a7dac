"""Use cases on cases: submit, staff actions, delivery to chats, cards, reminders, statistics."""
