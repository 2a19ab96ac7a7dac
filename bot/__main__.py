"""`python -m bot` is the `damrongtham` command."""

from bot.cli import main

main()
