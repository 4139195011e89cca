"""The library: finished jobs and their files — history and its full-text search, the
downloads API's view of it, files and thumbnails on disk, and figures about it."""
