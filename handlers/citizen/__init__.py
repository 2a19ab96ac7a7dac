"""The citizen's conversations: intake, tracking, their cases, privacy."""
