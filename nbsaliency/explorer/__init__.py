"""The explorer side: the widget, its backend (selection -> arrays), the protocol and one module per panel."""
