import os

from gridlstm.threads import passive_wait_env

# As the `gridlstm` command does before torch loads (cli/launch.py): OpenMP threads sleep at their
# barriers instead of spinning, so the suite, like a user's run, keeps its pace beside other busy
# processes. A wait policy already in the environment is kept.
passive_wait_env(os.environ)
