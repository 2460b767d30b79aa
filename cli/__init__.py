"""The gridlstm command line: a thin Click layer over the ``gridlstm`` library."""
