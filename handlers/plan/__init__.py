"""The plan in chat: `/progress` for division staff, `/summary` for coordinators."""
