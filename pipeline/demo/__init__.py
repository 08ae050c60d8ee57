"""What ``clipwatch demo`` ships with: ``loopback.py``, a small video site on loopback (watch pages, RSS feeds, error
routes) that yt-dlp downloads from for real, and the bundled samples it publishes (``pipeline/data/samples``)."""
