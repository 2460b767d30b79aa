"""The shipped configs (YAML package data): installed as ``gridlstm.configs``, read by gridlstm/compose.py."""
