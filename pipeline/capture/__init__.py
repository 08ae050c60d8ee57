"""Capture: what the site served during a fetch, kept as a web archive (issue 23).

``record.py`` listens to yt-dlp's own HTTP requests while it reads a video's page and writes its thumbnail (the
exchanges as the site answered them, headers included); ``warc.py`` writes them as WARC records with warcio (a
``warcinfo`` record, request + response pairs, the platform metadata yt-dlp assembled as a ``resource``, the media
as a ``revisit`` record that names the stored original by its SHA-256, the TLS certificate the site presented as a
``metadata`` record); ``wacz.py`` packages one video's WARC as a WACZ 1.1.1 file (``archive/``, ``indexes/``,
``pages/``, ``datapackage.json`` with the SHA-256 of every file, ``datapackage-digest.json``), reads it back for
replay and checks it; ``tls.py`` asks an https site for its certificate chain.

The room knows nothing of yt-dlp beyond the request/response objects it is handed, nothing of the catalogue and
nothing of the rooms above: ``sources/`` records into it during a fetch, ``stages/`` files the result, ``web/`` and
``cli/`` read it back.
"""
