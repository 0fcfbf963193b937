"""Allow `python -m amc_tui`."""

from amc_tui.cli import main

main()
