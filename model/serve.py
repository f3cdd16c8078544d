"""Entry point of the iris-classifier inference server: ``python serve.py``.

Configuration comes from the environment (MODEL_URI, PORT, ...) or the equivalent flags;
see ``python serve.py --help``.
"""

import sys

from iris_server.main import main

if __name__ == "__main__":
    sys.exit(main())
