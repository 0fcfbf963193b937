"""Textual widgets: the five panes and the pieces they share.

Widgets render state objects from `services`; they never open a connection.
"""
