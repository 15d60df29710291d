import atexit
import os
import sys

from .cli import main

code = main()
# What a clean exit must do (close live engines, join worker pools, flush logs and streams) runs
# here; the interpreter's teardown of every module and object that follows would only cost time.
atexit._run_exitfuncs()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code or 0)
