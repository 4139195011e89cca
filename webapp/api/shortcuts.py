"""iOS Shortcuts endpoints: /api/v1/upload/* and /api/v1/supported-platforms (being built)."""
