"""Searching the archive. ``facade.search`` is the one entry (word, substring, semantic or hybrid); ``query`` parses
and validates, ``fulltext`` ranks by words and builds hits, ``vectors`` embeds, ``hybrid`` fuses, ``views`` (trends,
concordance), ``export`` and ``citation`` present results. The shadow text both the indexes (storage) and the
queries use is ``pipeline.text.normalize``, a leaf below both.
"""
