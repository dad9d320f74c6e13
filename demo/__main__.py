"""`python -m selchat.demo`: the same as `selchat-demo`."""

import sys

from .cli import main

sys.exit(main())
