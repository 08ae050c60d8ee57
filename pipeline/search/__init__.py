"""Searching the archive. ``facade.search`` is the one entry (word, substring, semantic or hybrid); ``query`` parses
and validates, ``fulltext`` ranks by words and builds hits, ``vectors`` embeds, ``hybrid`` fuses, ``views`` (trends,
concordance), ``export`` and ``citation`` present results. ``normalize`` is the shadow text both the indexes
(storage) and the queries use.

Kept empty of imports: ``pipeline.storage`` imports ``pipeline.search.normalize``, which runs this file first.
"""
