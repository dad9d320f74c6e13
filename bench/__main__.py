"""`python -m selchat.bench` runs selchat-bench."""

import sys

from .cli import main

sys.exit(main())
