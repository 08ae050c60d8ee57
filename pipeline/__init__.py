"""clipwatch: archive, transcribe, tag and search state-media video.

The library is one module per pipeline stage; each stage has one public
function that takes and returns plain typed values (dataclasses).
"""

__version__ = "0.1.0"
