import sys

from chattree.cli import main

sys.exit(main())
