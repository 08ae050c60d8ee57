"""Signals for category tagging: each module turns one kind of evidence into features (``base.Signal``,
registered in ``base.SIGNALS``).

``audio``  shares of speech / music / silence / noise from the audio profile (``pipeline.media.profile``)
``text``   lexicon and keyword hits in English and Korean (metadata and transcripts)
``source`` channel registry lookup (known state-media outlets)

``pipeline.tagging.model`` combines them with a per-category logistic regression.
"""
