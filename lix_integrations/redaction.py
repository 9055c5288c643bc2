"""Credentials out of every URL we print: ``engine.url``, reprs, error messages and log lines.

A store URL can carry a secret in two places: the userinfo (``redis://user:pw@host``, or a bare
``redis://token@host``) and the query string (``?password=pw``, ``?pass=pw``, ``?auth_token=...``). redis-py reads
the query options as connection keywords, so ``redis://h/0?username=app&password=pw`` is as common as the userinfo
form, and redacting only the userinfo printed the password in full (issue 14, defect 5).

Everything else in the URL is kept as written (host, port, database, option order), so a redacted URL still says
which store it names. Imports nothing from the package: every layer may use it.
"""

from __future__ import annotations

from urllib.parse import unquote_plus, urlsplit

__all__ = ["MASK", "is_secret_option", "redact_url", "redact_userinfo_password"]

MASK = "***"

# Option names whose value is a credential: exact names, and parts that make any name one (``sentinel_password``,
# ``client_secret``, ``auth_token``, ``access_token``...). Compared case-insensitively after percent-decoding.
_SECRET_NAMES = frozenset({"pass", "pwd", "passwd", "auth", "key", "apikey", "api_key", "credentials"})
_SECRET_PARTS = ("password", "passwd", "secret", "token", "credential", "apikey", "api_key")


def is_secret_option(name: str) -> bool:
    """Whether a URL query option of this name holds a credential."""
    low = unquote_plus(name).strip().lower()
    return low in _SECRET_NAMES or any(part in low for part in _SECRET_PARTS)


def _split_netloc(url: str) -> tuple[str, str, str, str] | None:
    """``(before, userinfo, host, after)`` around the authority of ``scheme://[userinfo@]host...``."""
    scheme_end = url.find("://")
    if scheme_end < 0:
        return None
    start = scheme_end + 3
    end = len(url)
    for sep in "/?#":
        pos = url.find(sep, start)
        if pos != -1:
            end = min(end, pos)
    netloc = url[start:end]
    if "@" not in netloc:
        return None
    userinfo, host = netloc.rsplit("@", 1)
    return url[:start], userinfo, host, url[end:]


def _redact_userinfo(url: str) -> str:
    found = _split_netloc(url)
    if found is None:
        return url
    before, userinfo, host, after = found
    user, sep, _password = userinfo.partition(":")
    # ``user:pw`` keeps the user name; a lone ``token@`` is a credential to some clients, so it goes entirely.
    masked = f"{user}:{MASK}" if sep else MASK
    return f"{before}{masked}@{host}{after}"


def _redact_query(url: str) -> str:
    head, qmark, rest = url.partition("?")
    if not qmark:
        return url
    query, hash_mark, fragment = rest.partition("#")
    pieces = []
    for piece in query.split("&"):
        name, eq, _value = piece.partition("=")
        pieces.append(f"{name}={MASK}" if eq and is_secret_option(name) else piece)
    return f"{head}?{'&'.join(pieces)}{hash_mark}{fragment}"


def redact_url(url: str) -> str:
    """``url`` with every credential replaced by ``***``: the userinfo password (or a bare userinfo token) and
    the value of every query option that names a credential (see `is_secret_option`).

    Safe on any string: text that is not a URL comes back unchanged.
    """
    if not isinstance(url, str):
        return url
    return _redact_query(_redact_userinfo(url))


def redact_userinfo_password(url: str) -> str:
    """The redaction lix applied before query options were redacted too (userinfo password only).

    Kept for one purpose: the default session-archive directory of a Redis store is named by a digest of the
    store's printed URL, so stores opened from a URL with ``?password=`` keep finding the archives they wrote.
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo = "" if parts.username is None else parts.username
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{userinfo}:***@{host}").geturl()
