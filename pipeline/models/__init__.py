"""Model files, below both ``asr/`` and ``translate/``: ``hub.py`` (pulling from the Hugging Face hub, or a mirror
named by ``HF_ENDPOINT``), ``whisper.py`` (the Whisper model registry: packaged, pulled or local CTranslate2 folders
and openai-whisper checkpoints), ``translation.py`` (the text-translation models ``--translator ct2:NAME`` runs) and
``ct2_convert.py`` (reading CTranslate2 weights, converting them to an openai-whisper checkpoint)."""
