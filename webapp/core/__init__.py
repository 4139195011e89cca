"""Pure rules the web and the worker share: no Flask, no database, no request.

Path sanitising and the library's layout (`paths`), URL checks and normalising (`urls`),
finding links in pasted text (`link_text`), the network policy's address rules
(`url_policy`), the extra tool switches' allowlist and its parser (`tool_allowlist`,
`tool_args`), hashing and byte sizes. Everything here takes plain values and returns plain
values, so `jobs/` and the blueprints may both import it, and a unit test needs no app.
"""
