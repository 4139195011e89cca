"""What an admin runs Haul with: the settings changed at runtime, per-site cookie files and who
may use them, the sites the tools support, and backups."""
