"""Headless core of amc-tui: adapters, domain logic and the plain state they produce.

Nothing under this package may import Textual: RQ workers import it.
"""
