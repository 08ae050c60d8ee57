"""Programmes: boundaries between the programmes of a recorded channel, programme records, marked idents."""
