"""Entry point: ``python controller.py --kubeconfig FILE [flags]`` runs the Widget operator."""

import sys

from widgetctl.main import main

if __name__ == "__main__":
    sys.exit(main())
