"""`python -m connector.cli` runs the same command as `stitch-connector`."""

from connector.cli.app import main

main()
