"""textladder: build ever better multi-class text classifiers, one rung at a time."""

__version__ = "0.1.0"
