"""Guests: invite links and what they allow, what a guest may send and see, chunked uploads
and the store that turns an uploaded file into a library entry, and the invite's byte limits."""
