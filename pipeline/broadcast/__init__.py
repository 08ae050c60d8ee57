"""Recording live streams (issue 25): ``recorder`` cuts a stream into segments with their air time and reports gaps,
``ledger`` keeps what is recorded across restarts, ``status`` reads what each channel's recorder says (backlog).
The stages run on each closed segment from above (``flows/record.py``)."""
