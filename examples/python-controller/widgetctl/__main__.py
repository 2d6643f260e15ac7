"""``python -m widgetctl [flags]``: run the Widget operator."""

import sys

from widgetctl.main import main

sys.exit(main())
