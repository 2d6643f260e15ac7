"""widgetctl: a Python operator for the Widget CRD, with switchable scale pathologies."""
