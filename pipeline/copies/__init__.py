"""Copy detection: ``fingerprint.py`` (per-second audio fingerprints), ``matching.py`` (keyframe hashes and audio
fingerprints against a persistent index), ``copies.py`` (copy links between archived videos, their direction) and
``network.py`` (the channel network those links draw)."""
