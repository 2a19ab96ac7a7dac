"""Staff in their division chats: case buttons, case views, enrolment."""
