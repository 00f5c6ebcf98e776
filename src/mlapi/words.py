"""``N_``: marks an English message for the catalogs without translating it.

A message a client or a page may read is written ``N_("No version {version}.").format(version=...)``:
``make translations`` extracts the template, and :func:`mlapi.web.i18n.translate` finds the formatted
English again by its template and says it in the reader's language (``detail`` and ``errors`` of every
problem, the messages a page shows). A template's fields are values (names, numbers), never words.
"""


def N_(message: str) -> str:  # noqa: N802 (gettext's name for a marker)
    """``message`` unchanged: marked for the catalog, translated where it is shown."""
    return message
