import sys

from qengine.cli import main

sys.exit(main())
