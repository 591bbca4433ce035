"""Services the app runs beside ``ui/``: things a deployment needs, not things a student reads to learn the models."""
