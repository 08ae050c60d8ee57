"""clipwatch: archive, transcribe, tag and search state-media video.

The library is a house of rooms with one direction of imports (``pipeline/LAYOUT.md``): ``cli/`` and ``web/`` on
top, then ``stages/`` (one module per analysis stage over a ``Job``), then the rooms (``sources/``, ``shots/``,
``asr/``, ``translate/``, ``tagging/``, ``search/``, ``preservation/``, ``copies/``, ``demo/``), then ``storage/``,
``models/`` and ``media/``, then the leaves (``config``, ``errors``, ``registry``). Stages and rooms take and
return plain typed values (dataclasses); Prefect lives only in ``flows/``, outside this package.
"""

__version__ = "0.1.0"
