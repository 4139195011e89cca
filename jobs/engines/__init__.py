"""Download engines: gallery-dl, yt-dlp and direct files behind one interface; `pick` chooses."""
