"""Models of the scanning app."""
