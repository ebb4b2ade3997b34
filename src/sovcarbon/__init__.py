"""sovcarbon: a sovereign national carbon-credit registry of record.

Layers (arrows point inward): ``api``/``cli``/``web`` -> ``services`` -> ``domain``;
``services`` -> ``store`` / ``chain`` / ``bridge``. The domain imports nothing of ours outside itself.
"""

__version__ = "0.1.0"
