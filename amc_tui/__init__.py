"""amc-tui: a terminal console for the AMC-TRADER discovery system.

This package holds the Textual app, its screens and styles, the command line
and the embedded demo environment. Headless logic lives in `services`.
"""

__version__ = "0.1.0"
