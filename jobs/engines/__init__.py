"""Download engines: gallery-dl, yt-dlp and direct files behind one interface (base.py), each
registered by name (registry.py); `picker` chooses one per URL and runs the generic fall-back."""
