"""gridlstm: see why recurrent networks forget, and whether a Grid LSTM fixes it."""
__version__ = "0.1.0"
