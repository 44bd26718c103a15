import sys

from contlaws.cli import main

sys.exit(main())
