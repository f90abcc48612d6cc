"""`python -m pinaudience` runs the command-line tool."""

from pinaudience.cli import main

main()
