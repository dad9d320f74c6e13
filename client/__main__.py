"""`python -m selchat.client` runs the terminal client."""

import sys

from .cli import main

sys.exit(main())
