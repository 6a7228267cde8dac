"""One module per ``g2c`` verb; each is a thin shell over a Python API."""
